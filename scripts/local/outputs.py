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
    preview: Mapping[str, Any],
    shards: Sequence[LocalShard],
    cache_nodes: Sequence[LocalCacheNode],
    clusters: Sequence[LocalShard] = (),
) -> dict[str, Any]:
    """The preview's outputs with the local endpoints. Secret ARNs stay the preview's: the local moto holds them.
    A self-hosted cluster (`selfhosted.clusters[]`, named as in the outputs) gets its writer, reader and each
    node's address (a node's outputs name and its local node name end in the same AZ key: `analytics-a`,
    `cryb-prod-analytics-node-a`)."""
    outputs = copy.deepcopy(dict(preview))
    by_name = {s.name: s for s in shards}
    for shard in outputs.get("postgres", {}).get("shards", []):
        local = by_name.get(shard["name"])
        if local is None:
            raise ValueError(f"{shard['name']}: the local platform runs no such shard")
        shard["writerEndpoint"] = local.writer
        shard["proxyEndpoint"] = local.writer
        shard["readerEndpoints"] = [local.reader]
    located = {c.name: c for c in clusters}
    for cluster in (outputs.get("selfhosted") or {}).get("clusters") or []:
        local = located.get(cluster["name"])
        if local is None:
            raise ValueError(f"selfhosted.clusters[{cluster['name']}]: the local platform runs no such cluster")
        cluster["writerEndpoint"] = local.writer
        cluster["readerEndpoints"] = [local.reader]
        by_key = {name.rsplit("-", 1)[-1]: address for name, address in local.nodes}
        for node in cluster.get("nodes", []):
            key = str(node["name"]).rsplit("-", 1)[-1]
            if key not in by_key:
                raise ValueError(f"selfhosted.clusters[{cluster['name']}]: no local node for {node['name']}")
            node["address"] = by_key[key]
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
