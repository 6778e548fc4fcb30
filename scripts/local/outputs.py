"""`outputs.local.json`: the stack's outputs (the preview's, in the contract of docs/outputs.md) with every endpoint
replaced by what a client on this machine reaches: the loopback addresses the local platform listens on."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from scripts.sandbox.node import PROJECT_DIR

SCHEMA = PROJECT_DIR / "docs" / "outputs.schema.json"


@dataclass(frozen=True)
class LocalShard:
    name: str
    writer: str
    """host:port of the writer forwarder (follows the Patroni leader)."""
    reader: str
    nodes: Sequence[tuple[str, str]]
    """(node name, loopback address)."""


@dataclass(frozen=True)
class LocalCacheNode:
    planned: str
    """`s0-master`, `s0-replica1`, ... (the cluster plan)."""
    address: str


def local_outputs(
    preview: Mapping[str, Any], shards: Sequence[LocalShard], cache_nodes: Sequence[LocalCacheNode]
) -> dict[str, Any]:
    """The preview's outputs with the local endpoints. Secret ARNs stay the preview's: the local moto holds them."""
    outputs = copy.deepcopy(dict(preview))
    by_name = {s.name: s for s in shards}
    for shard in outputs.get("postgres", {}).get("shards", []):
        local = by_name.get(shard["name"])
        if local is None:
            raise ValueError(f"{shard['name']}: the local platform runs no such shard")
        shard["writerEndpoint"] = local.writer
        shard["proxyEndpoint"] = local.writer
        shard["readerEndpoints"] = [local.reader]
    cache = outputs.get("cache")
    if cache is not None and cache_nodes:
        by_plan = {n.planned: n.address for n in cache_nodes}
        planned = {n["name"] for n in cache.get("nodes", [])}
        if planned != set(by_plan):
            raise ValueError(f"cache nodes differ: preview {sorted(planned)}, local {sorted(by_plan)}")
        for node in cache["nodes"]:
            node["address"] = by_plan[node["name"]]
    return outputs


def validate(outputs: Mapping[str, Any], schema_path: Path = SCHEMA) -> None:
    """Raises jsonschema.ValidationError when the outputs break the contract."""
    schema = json.loads(schema_path.read_text())
    jsonschema.validate(dict(outputs), schema, format_checker=jsonschema.FormatChecker())


def write_outputs(outputs: Mapping[str, Any], path: Path) -> None:
    validate(outputs)
    path.write_text(json.dumps(outputs, indent=2) + "\n")
