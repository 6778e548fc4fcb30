"""The shard map in force: the stack's published map (outputs) plus what bucket moves changed since, read from the
control tables every shard carries (docs/sharding.md "Where the router reads the map"):

    cryb_shards.map_state(epoch bigint, ...)            one row; +1 on every fence, switch or unfence
    cryb_shards.buckets(bucket, shard, fenced, epoch)   a row per bucket that moved or is fenced

A bucket's owner is its `buckets` row if there is one, else the published range that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg

from .contract import BaseMap

EPOCH_QUERY = "select epoch from cryb_shards.map_state"
OVERRIDES_QUERY = "select bucket, shard, fenced from cryb_shards.buckets"


@dataclass(frozen=True)
class LiveMap:
    base: BaseMap
    epoch: int = 0
    owners: Mapping[int, int] = field(default_factory=dict)
    """bucket -> shard, where a move changed it."""
    fenced: frozenset[int] = frozenset()

    def owner(self, bucket: int) -> int:
        shard = self.owners.get(bucket)
        if shard is None:
            shard = self.base.owner(bucket)
        if shard is None:
            raise ValueError(f"bucket {bucket} is in no range of shard map {self.base.version}")
        return shard

    def buckets_of(self, shard: int) -> list[int]:
        return [b for b in range(self.base.bucket_count) if self.owner(b) == shard]

    @property
    def version(self) -> str:
        """The published map's version and the live epoch: changes whenever any bucket's owner or fence does."""
        return f"{self.base.version}+{self.epoch}"


def read_epoch(conn: psycopg.Connection) -> int:
    """The control epoch of a shard; 0 where no move ever ran (no control schema)."""
    try:
        with conn.transaction():
            row = conn.execute(EPOCH_QUERY).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def read_live_map(conn: psycopg.Connection, base: BaseMap) -> LiveMap:
    """The map in force as one shard's control tables record it, read in one snapshot."""
    try:
        with conn.transaction():
            conn.execute("set transaction isolation level repeatable read")
            row = conn.execute(EPOCH_QUERY).fetchone()
            overrides = conn.execute(OVERRIDES_QUERY).fetchall()
    except psycopg.errors.UndefinedTable:
        return LiveMap(base)
    owners = {int(b): int(s) for b, s, _ in overrides}
    fenced = frozenset(int(b) for b, _, f in overrides if f)
    return LiveMap(base, int(row[0]) if row else 0, owners, fenced)
