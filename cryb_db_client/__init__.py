"""cryb-db's application router: routes a key to its bucket, region and shard and hands out pooled connections
(docs/sharding.md). Installable without Pulumi: psycopg 3 and psycopg_pool, boto3 optional (IAM tokens, Secrets
Manager). It must not import the Pulumi program (`components/`) or `pulumi`: tests/project/test_architecture.py.

Names are loaded on first use (PEP 562): the Pulumi program imports `cryb_db_client.hashing` for the shard map, and
that must not pull psycopg into every preview."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contract import BaseMap, Endpoint, Shard, StackContract, parse, read_outputs, stack_outputs
    from .credentials import IamToken, SecretsManager, Static
    from .errors import (
        SQLSTATE_FENCED,
        SQLSTATE_NOT_HERE,
        BucketFencedError,
        BucketMovedError,
        ContractError,
        FanOutTimeoutError,
        RetryableError,
        RouterError,
    )
    from .hashing import HASH_ALGORITHM, bucket_of, key_bytes
    from .live_map import LiveMap
    from .router import Route, Router, Transaction

_MODULE_OF = {
    **dict.fromkeys(
        ("BaseMap", "Endpoint", "Shard", "StackContract", "parse", "read_outputs", "stack_outputs"), "contract"
    ),
    **dict.fromkeys(("IamToken", "SecretsManager", "Static"), "credentials"),
    **dict.fromkeys(
        (
            "SQLSTATE_FENCED",
            "SQLSTATE_NOT_HERE",
            "BucketFencedError",
            "BucketMovedError",
            "ContractError",
            "FanOutTimeoutError",
            "RetryableError",
            "RouterError",
        ),
        "errors",
    ),
    **dict.fromkeys(("HASH_ALGORITHM", "bucket_of", "key_bytes"), "hashing"),
    "LiveMap": "live_map",
    **dict.fromkeys(("Route", "Router", "Transaction"), "router"),
}

__all__ = [
    "HASH_ALGORITHM",
    "SQLSTATE_FENCED",
    "SQLSTATE_NOT_HERE",
    "BaseMap",
    "BucketFencedError",
    "BucketMovedError",
    "ContractError",
    "Endpoint",
    "FanOutTimeoutError",
    "IamToken",
    "LiveMap",
    "RetryableError",
    "Route",
    "Router",
    "RouterError",
    "SecretsManager",
    "Shard",
    "StackContract",
    "Static",
    "Transaction",
    "bucket_of",
    "key_bytes",
    "parse",
    "read_outputs",
    "stack_outputs",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
