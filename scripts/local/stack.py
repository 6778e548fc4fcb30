"""The stack as the local platform runs it: the stack's own config with its PostgreSQL shards and its cache switched to
the self-hosted engines (`postgres.engine: ec2`, `cache.engine: ec2`), evaluated offline by the preview's mock engine.

Why not one node per shard: `postgres.ec2.nodeCount` is 3 or 5 (components/config/selfhosted.py, `ge=3`, odd), in
every stack, because each node runs an etcd member and the rendered etcd cluster of one node out of three has no
quorum (Patroni would never elect a leader). So each shard boots the three nodes the preview renders; the stack gets
`network.azCount: 3` when it has fewer AZs (the config refuses two nodes in one AZ).

Why one shard: each shard is three nodes here, so prod's four shards would be twelve PostgreSQL nodes on a 2-core,
4 GB laptop. The local platform boots `LOCAL_SHARDS` shard(s) (`postgres.shardCount` capped; the shard map then
sends every bucket to shard 0, as a one-shard stack's does). The stack's self-hosted clusters (prod's `analytics`)
are kept as declared: `local up --stack prod` boots them beside the shard.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from components.config.postgres import RDS_ONLY_FIELDS, PostgresConfig
from scripts.preview.mock_engine import Evaluation, evaluate, stack_file_path

SHARD_NODES = 3
CACHE_SHARDS = 3
"""Three masters with a replica each: the six nodes of the seed's compose file (a cluster needs three masters)."""
IMAGE_SSM_PARAMETER = "/cryb-db/images/selfhosted-postgres"
LOCAL_SHARDS = 1
"""Shards the local platform boots at most (three nodes each)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def local_config(document: dict[str, Any]) -> dict[str, Any]:
    """The stack document with the self-hosted engines switched on (a new document; the input is not changed)."""
    config = dict(document.get("config") or {})
    rds_only = {_camel(field) for field in RDS_ONLY_FIELDS}
    postgres = {k: v for k, v in dict(config.get("cryb-db:postgres") or {}).items() if k not in rds_only}
    ec2 = dict(postgres.get("ec2") or {})
    ec2["nodeCount"] = max(int(ec2.get("nodeCount", SHARD_NODES)), SHARD_NODES)
    shards = int(postgres.get("shardCount", PostgresConfig.model_fields["shard_count"].default))
    postgres.update({"engine": "ec2", "ec2": ec2, "shardCount": min(shards, LOCAL_SHARDS)})
    network = dict(config.get("cryb-db:network") or {})
    network["azCount"] = max(int(network.get("azCount", 3)), ec2["nodeCount"])
    network["interfaceEndpoints"] = True  # self-hosted nodes read their secrets through them (the config requires it)
    selfhosted = dict(config.get("cryb-db:selfhosted") or {})
    if not selfhosted.get("imageSsmParameter") and not selfhosted.get("packageProxy"):
        selfhosted["imageSsmParameter"] = IMAGE_SSM_PARAMETER
    cache = dict(config.get("cryb-db:cache") or {})
    cache.update({"engine": "ec2", "shards": max(int(cache.get("shards", CACHE_SHARDS)), CACHE_SHARDS)})
    config.update(
        {
            "cryb-db:postgres": postgres,
            "cryb-db:network": network,
            "cryb-db:selfhosted": selfhosted,
            "cryb-db:cache": cache,
        }
    )
    return {**document, "config": config}


def evaluate_local(stack: str, config_file: Path | None = None) -> Evaluation:
    """The offline preview of the stack as the local platform runs it."""
    source = config_file or stack_file_path(stack)
    document = local_config(yaml.safe_load(source.read_text()))
    with tempfile.TemporaryDirectory(prefix="cryb-local-config-") as tmp:
        path = Path(tmp) / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(document))
        return evaluate(stack, path)
