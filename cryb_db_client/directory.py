"""Geographic placement: which region a community's data lives in (docs/sharding.md "Regions").

The directory is a global table (not sharded) on shard 0 of the home region's stack:

    cryb_directory.community_region(community_id text primary key, region text not null, ...)

A community without a row lives in the home region. Lookups are cached for `ttl_seconds`; a community is re-homed
by moving its data (bucket moves between regional stacks) and then updating its row.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import psycopg

from .hashing import key_bytes

if TYPE_CHECKING:
    from .contract import Shard
    from .router import Router

SCHEMA_SQL = """
create schema if not exists cryb_directory;
create table if not exists cryb_directory.community_region (
    community_id text primary key,
    region text not null check (region ~ '^[a-z]{2}(-[a-z]+)+-[0-9]$'),
    updated_at timestamptz not null default now()
);
"""


class Directory:
    def __init__(self, router: Router, ttl_seconds: float = 30.0):
        self._router, self._ttl = router, ttl_seconds
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _shard(self) -> Shard:
        """The home region's lowest shard: where global tables live."""
        contract = self._router._region(None).contract
        return contract.shards[min(contract.shards)]

    def region_of(self, community_id: int | str) -> str:
        """The community's home region (the router's home region when the directory has no row)."""
        key = key_bytes(community_id).decode()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        with self._router.connection(self._shard(), "reader") as conn:
            try:
                with conn.transaction():
                    row = conn.execute(
                        "select region from cryb_directory.community_region where community_id = %s", (key,)
                    ).fetchone()
            except psycopg.errors.UndefinedTable:
                row = None
        region = str(row[0]) if row else self._router.home_region
        if region not in self._router.regions:
            raise LookupError(
                f"community {key}: directory says region {region!r}, but the router has no outputs "
                f"for it ({self._router.regions})"
            )
        with self._lock:
            self._cache[key] = (now, region)
        return region

    def set_region(self, community_id: int | str, region: str) -> None:
        """Home a community in `region` (creates the directory table if needed)."""
        if region not in self._router.regions:
            raise ValueError(f"region {region!r}: the router has no outputs for it ({self._router.regions})")
        key = key_bytes(community_id).decode()
        with self._router.connection(self._shard(), "writer") as conn, conn.transaction():
            conn.execute(SCHEMA_SQL)
            conn.execute(
                "insert into cryb_directory.community_region (community_id, region) values (%s, %s) "
                "on conflict (community_id) do update set region = excluded.region, updated_at = now()",
                (key, region),
            )
        with self._lock:
            self._cache.pop(key, None)
