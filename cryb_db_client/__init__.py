"""cryb-db's application router: routes a key to its bucket, region and shard and hands out pooled connections
(docs/sharding.md). Installable without Pulumi: psycopg 3 and psycopg_pool, boto3 optional (IAM tokens, Secrets
Manager). It must not import the Pulumi program (`components/`) or `pulumi`: tests/project/test_architecture.py."""

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
