"""What a drill does before touching anything: the shards from `pulumi stack output --json` (tolerant of key
spellings, naming what is missing), the restore target, the scratch instance identifiers and the drill's knobs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class OutputsError(ValueError):
    """The stack outputs do not describe the shards the drill needs; the message says which key is missing."""


@dataclass(frozen=True)
class ShardTarget:
    """One shard as the stack outputs describe it."""

    id: str
    instance_identifier: str
    host: str
    port: int
    database: str
    secret_arn: str | None
    db_subnet_group_name: str
    security_group_ids: tuple[str, ...]
    parameter_group_name: str | None = None
    topology: str = "instance"


_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "shardId", "shard_id", "name"),
    # components/postgres/component.py exports the RDS identifier as `name` and the shard index as `id`.
    "instanceIdentifier": ("instanceIdentifier", "instance_identifier", "dbInstanceIdentifier", "identifier", "name"),
    "writerEndpoint": ("writerEndpoint", "writer_endpoint", "endpoint", "address"),
    "port": ("port",),
    "secretArn": ("secretArn", "secret_arn", "masterUserSecretArn", "master_user_secret_arn"),
    "database": ("database", "dbName", "db_name", "databaseName"),
    "dbSubnetGroupName": ("dbSubnetGroupName", "db_subnet_group_name", "subnetGroupName"),
    "securityGroupIds": ("securityGroupIds", "security_group_ids", "vpcSecurityGroupIds"),
    "parameterGroupName": ("parameterGroupName", "parameter_group_name", "dbParameterGroupName"),
    "topology": ("topology",),
}


OPTIONAL_KEYS = ("secretArn", "parameterGroupName", "topology")


def _pick(entry: Mapping[str, Any], key: str) -> Any:
    for name in _ALIASES[key]:
        if entry.get(name) not in (None, "", []):
            return entry[name]
    return None


def _network_fallbacks(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Subnet group and postgres security group from the `network` output, when a shard entry lacks them."""
    network = outputs.get("network")
    network = network if isinstance(network, Mapping) else {}
    groups = network.get("securityGroupIds")
    groups = groups if isinstance(groups, Mapping) else {}
    return {
        "dbSubnetGroupName": network.get("dbSubnetGroupName"),
        "securityGroupIds": [groups["postgres"]] if groups.get("postgres") else None,
    }


def shards_from_outputs(outputs: Mapping[str, Any], only: str | None = None) -> list[ShardTarget]:
    """Shards from `pulumi stack output --json`; raises OutputsError naming what is missing and what is there."""
    postgres = outputs.get("postgres")
    if not isinstance(postgres, Mapping):
        raise OutputsError(
            f"no `postgres` output (outputs have: {', '.join(sorted(outputs)) or 'nothing'}); pass the "
            "`pulumi stack output --json` of a stack that has the PostgreSQL shards"
        )
    raw = postgres.get("shards")
    if isinstance(raw, Mapping):  # also accept {"shard-0": {...}}
        raw = [{"id": key, **value} for key, value in raw.items() if isinstance(value, Mapping)]
    if not isinstance(raw, list) or not raw:
        raise OutputsError(f"`postgres.shards` must be a non-empty list (postgres has: {', '.join(sorted(postgres))})")
    fallbacks = _network_fallbacks(outputs)
    shards, problems = [], []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            problems.append(f"postgres.shards[{index}] is {type(entry).__name__}, not an object")
            continue
        if entry.get("topology") == "patroni":
            continue  # restored with pgBackRest: patroni_targets_from_outputs
        values = {key: _pick(entry, key) for key in _ALIASES}
        for key, fallback in fallbacks.items():
            values[key] = values[key] or fallback
        host, port = values["writerEndpoint"], values["port"]
        if isinstance(host, str) and ":" in host and port is None:
            host, _, port_text = host.rpartition(":")
            port = int(port_text)
        values["writerEndpoint"], values["port"] = host, port
        label = f"postgres.shards[{index}] ({'no id' if values['id'] is None else values['id']})"
        missing = [key for key in _ALIASES if key not in OPTIONAL_KEYS and values[key] is None]
        if missing:
            wanted = "; ".join(f"{key} (as {' or '.join(_ALIASES[key])})" for key in missing)
            problems.append(f"{label}: missing {wanted}; the entry has: {', '.join(sorted(entry))}")
            continue
        shards.append(
            ShardTarget(
                id=str(values["id"]),
                instance_identifier=str(values["instanceIdentifier"]),
                host=str(host),
                port=int(port),
                database=str(values["database"]),
                secret_arn=values["secretArn"],
                db_subnet_group_name=str(values["dbSubnetGroupName"]),
                security_group_ids=tuple(str(g) for g in values["securityGroupIds"]),
                parameter_group_name=values["parameterGroupName"],
                topology=str(values["topology"] or "instance"),
            )
        )
    if problems:
        raise OutputsError("invalid stack outputs:\n" + "\n".join(f"  - {p}" for p in problems))
    if only is not None:
        chosen = [s for s in shards if only in (s.id, s.instance_identifier)]
        if not chosen and any(only in _patroni_names(t) for t in patroni_targets_from_outputs(outputs)):
            return []
        if not chosen:
            raise OutputsError(f"--shard {only!r}: no such shard (shards: {', '.join(s.id for s in shards)})")
        return chosen
    return shards


def parse_target(text: str | None) -> datetime | None:
    """ISO 8601 restore target; UTC when it carries no offset."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise OutputsError(f"--target {text!r}: must be an ISO 8601 time such as 2026-05-01T03:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def scratch_identifier(prefix: str, shard: str, run_id: str) -> str:
    """An RDS identifier (letter first, letters/digits/single hyphens, <= 63) that cannot be a shard's."""
    raw = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{shard}-{run_id}".lower()).strip("-")
    if not raw[:1].isalpha():
        raw = f"d-{raw}"
    return raw[:63].rstrip("-")


@dataclass
class DrillSettings:
    """Knobs of a drill; the defaults suit RDS (minutes-long restores)."""

    target: datetime | None = None
    settle_seconds: float = 2.0
    tick_interval_seconds: float = 0.05
    max_tick_seconds: float = 30.0
    poll_seconds: float = 20.0
    restorable_timeout_seconds: float = 20 * 60
    available_timeout_seconds: float = 2 * 3600
    delete_timeout_seconds: float = 30 * 60
    wait_for_deletion: bool = True
    instance_class: str | None = None
    scratch_prefix: str = "drill"


@dataclass(frozen=True)
class PatroniTarget:
    """A self-hosted Patroni cluster (the analytics cluster, or a shard with topology `patroni`): where its writer
    is and where its pgBackRest repository is."""

    id: str
    name: str
    """Component name (`cryb-prod-analytics`, `cryb-prod-pg-00`)."""
    host: str
    port: int
    database: str
    secret_arn: str
    """The admin role's secret (the marker and ticks are written as it)."""
    engine_version: str
    region: str
    bucket: str
    kms_key_arn: str
    stanza: str
    prefix: str
    passphrase_secret_arn: str


def _section(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    return value if isinstance(value, Mapping) else {}


def _patroni_names(target: PatroniTarget) -> tuple[str, ...]:
    return (target.id, target.name, target.stanza)


def patroni_targets_from_outputs(outputs: Mapping[str, Any], only: str | None = None) -> list[PatroniTarget]:
    """Every Patroni cluster of the outputs: `selfhosted.clusters[]` and `postgres.shards[]` with topology
    `patroni`, each with its `backup` (stanza, prefix, passphrase secret) and the stack's `backups.bucketName`."""
    backups, postgres, selfhosted = (_section(outputs, key) for key in ("backups", "postgres", "selfhosted"))
    entries: list[tuple[str, Mapping[str, Any], str]] = []
    for index, shard in enumerate(postgres.get("shards") or []):
        if isinstance(shard, Mapping) and shard.get("topology") == "patroni":
            entries.append((f"postgres.shards[{index}]", shard, str(shard.get("id"))))
    for index, cluster in enumerate(selfhosted.get("clusters") or []):
        if isinstance(cluster, Mapping):
            entries.append((f"selfhosted.clusters[{index}]", cluster, str(cluster.get("name"))))
    targets, problems = [], []
    for label, entry, ident in entries:
        backup = _section(entry, "backup")
        values = {
            "writerEndpoint": entry.get("writerEndpoint"),
            "port": entry.get("port"),
            "databaseName": entry.get("databaseName"),
            "secretArn": entry.get("secretArn"),
            "backup.stanza": backup.get("stanza"),
            "backup.prefix": backup.get("prefix"),
            "backup.passphraseSecretArn": backup.get("passphraseSecretArn"),
            "backups.bucketName": backups.get("bucketName"),
            "backups.bucketKmsKeyArn": backups.get("bucketKmsKeyArn"),
        }
        missing = [key for key, value in values.items() if value in (None, "")]
        if missing:
            problems.append(f"{label} ({ident}): missing {', '.join(missing)}")
            continue
        targets.append(
            PatroniTarget(
                id=ident,
                name=str(entry.get("name") or ident),
                host=str(values["writerEndpoint"]),
                port=int(str(values["port"])),
                database=str(values["databaseName"]),
                secret_arn=str(values["secretArn"]),
                engine_version=str(entry.get("engineVersion") or postgres.get("engineVersion") or ""),
                region=str(entry.get("region") or outputs.get("region") or ""),
                bucket=str(values["backups.bucketName"]),
                kms_key_arn=str(values["backups.bucketKmsKeyArn"]),
                stanza=str(values["backup.stanza"]),
                prefix=str(values["backup.prefix"]),
                passphrase_secret_arn=str(values["backup.passphraseSecretArn"]),
            )
        )
    if problems:
        raise OutputsError(
            "invalid stack outputs for the Patroni clusters:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    if only is not None:
        return [t for t in targets if only in _patroni_names(t)]
    return targets
