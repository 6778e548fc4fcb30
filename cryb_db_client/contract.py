"""The part of a cryb-db stack's outputs the router uses (docs/outputs.md): the shard map and each shard's
endpoints. Read from a file written by `pulumi stack output --json`, or by running that command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ContractError
from .hashing import HASH_ALGORITHM


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Shard:
    """One shard of one stack (its id is unique within its region's stack)."""

    id: int
    name: str
    region: str
    writer: Endpoint
    """The proxy (RDS Proxy, or the Patroni writer NLB) when there is one, else the writer instance."""
    readers: tuple[Endpoint, ...]
    direct_writer: Endpoint
    """The writer instance itself (`writerEndpoint`): what logical replication and operator tools connect to."""
    database: str
    secret_arn: str
    iam_authentication: bool


@dataclass(frozen=True)
class BaseMap:
    """The shard map as the stack publishes it: contiguous bucket ranges per shard."""

    version: str
    bucket_count: int
    ranges: tuple[tuple[int, int, int], ...]
    """(first, last, shard) in bucket order."""

    def owner(self, bucket: int) -> int | None:
        for first, last, shard in self.ranges:
            if first <= bucket <= last:
                return shard
        return None


@dataclass(frozen=True)
class StackContract:
    environment: str
    region: str
    shard_map: BaseMap
    shards: Mapping[int, Shard]


def _split(address: str, default_port: int) -> Endpoint:
    """`host` or `host:port` (an explicit port wins: local clusters put readers on their own ports)."""
    host, sep, port = address.rpartition(":")
    return Endpoint(host, int(port)) if sep and port.isdigit() else Endpoint(address, default_port)


def _field(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ContractError(f"outputs: `{path}` is missing (expected `pulumi stack output --json` of cryb-db)")
        value = value[part]
    return value


def parse(document: Mapping[str, Any]) -> StackContract:
    """The router's view of one stack's outputs; a clear error names the first field that does not fit."""
    if "postgres" not in document and isinstance(document.get("outputs"), Mapping):
        document = document["outputs"]  # a `preview --json` document
    shard_map = _field(document, "postgres.shardMap")
    if shard_map.get("hash") != HASH_ALGORITHM:
        raise ContractError(f"postgres.shardMap.hash = {shard_map.get('hash')!r}: this router speaks {HASH_ALGORITHM}")
    ranges = tuple(sorted((int(r["first"]), int(r["last"]), int(r["shard"])) for r in shard_map["ranges"]))
    region = str(_field(document, "region"))
    shards: dict[int, Shard] = {}
    for raw in _field(document, "postgres.shards"):
        port = int(raw["port"])
        proxy = raw.get("proxyEndpoint")
        writer = _split(proxy, int(raw.get("proxyPort", port))) if proxy else _split(raw["writerEndpoint"], port)
        shard = Shard(
            id=int(raw["id"]),
            name=str(raw["name"]),
            region=str(raw.get("region") or region),
            writer=writer,
            readers=tuple(_split(r, port) for r in raw.get("readerEndpoints") or ()),
            direct_writer=_split(raw["writerEndpoint"], port),
            database=str(raw["databaseName"]),
            secret_arn=str(raw.get("secretArn") or ""),
            iam_authentication=bool(raw.get("iamAuthentication", False)),
        )
        shards[shard.id] = shard
    missing = sorted({shard for _, _, shard in ranges} - set(shards))
    if missing:
        raise ContractError(f"postgres.shardMap.ranges name shards {missing} that postgres.shards[] does not list")
    return StackContract(
        environment=str(document.get("environment", "")),
        region=region,
        shard_map=BaseMap(str(shard_map["version"]), int(shard_map["bucketCount"]), ranges),
        shards=shards,
    )


def read_outputs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A file holding `pulumi stack output --json`."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ContractError(f"outputs file {path}: {exc}") from exc


def stack_outputs(stack: str, cwd: str | os.PathLike[str] | None = None, pulumi: str = "pulumi") -> dict[str, Any]:
    """Run `pulumi stack output --json --stack STACK` (needs the Pulumi CLI and a login)."""
    command: Sequence[str] = [pulumi, "stack", "output", "--json", "--stack", stack]
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ContractError(f"`{' '.join(command)}` failed: {exc}") from exc
    return json.loads(done.stdout)
