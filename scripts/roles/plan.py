"""The databases `roles apply` works on, from `pulumi stack output --json` (pure)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.postgres.roles import ROLE_NAMES


class OutputsError(ValueError):
    """The outputs file lacks what the command needs; the message names the field."""


@dataclass(frozen=True)
class RoleTarget:
    name: str
    host: str
    port: int
    database: str
    admin_secret_arn: str
    role_secret_arns: Mapping[str, str]


def _split(endpoint: str, port: int) -> tuple[str, int]:
    host, sep, explicit = endpoint.rpartition(":")
    return (host, int(explicit)) if sep and explicit.isdigit() else (endpoint, port)


def targets_from_outputs(outputs: Mapping[str, Any]) -> list[RoleTarget]:
    """Every `postgres.shards[]` and `selfhosted.clusters[]` entry, its writer and its secrets."""
    if "postgres" not in outputs and isinstance(outputs.get("outputs"), Mapping):
        outputs = outputs["outputs"]  # a preview's JSON document
    entries = [
        (f"postgres.shards[{i}]", shard) for i, shard in enumerate((outputs.get("postgres") or {}).get("shards") or [])
    ]
    entries += [
        (f"selfhosted.clusters[{i}]", cluster)
        for i, cluster in enumerate((outputs.get("selfhosted") or {}).get("clusters") or [])
    ]
    if not entries:
        raise OutputsError("no postgres.shards or selfhosted.clusters in the outputs file (pulumi stack output --json)")
    targets = []
    for where, entry in entries:
        missing = [k for k in ("name", "writerEndpoint", "port", "databaseName", "secretArn", "roleSecretArns")
                   if not entry.get(k)]  # fmt: skip
        if missing:
            raise OutputsError(f"{where}: no {', '.join(missing)}")
        roles = dict(entry["roleSecretArns"])
        if sorted(roles) != sorted(ROLE_NAMES):
            raise OutputsError(f"{where}.roleSecretArns: has {sorted(roles)}, needs {sorted(ROLE_NAMES)}")
        host, port = _split(str(entry["writerEndpoint"]), int(entry["port"]))
        targets.append(
            RoleTarget(str(entry["name"]), host, port, str(entry["databaseName"]), str(entry["secretArn"]), roles)
        )
    return targets
