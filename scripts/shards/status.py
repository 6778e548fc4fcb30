"""`shards status`: the map in force and every move's journal, read from all shards."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from .connect import Shards


@dataclass
class ShardStatus:
    shard: int
    name: str
    reachable: bool
    epoch: int | None = None
    owned_overrides: int = 0
    fenced: int = 0
    blocked: dict[str, int] = field(default_factory=dict)
    moves: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def collect(shards: Shards) -> list[ShardStatus]:
    result = []
    for shard_id in shards.ids:
        shard = shards.shard(shard_id)
        status = ShardStatus(shard_id, shard.name, reachable=False)
        try:
            with shards.connect(shard_id) as conn:
                status.reachable = True
                if conn.execute("select to_regclass('cryb_shards.map_state')").fetchone() == (None,):
                    status.epoch = 0
                    result.append(status)
                    continue
                status.epoch = int(conn.execute("select epoch from cryb_shards.map_state").fetchone()[0])  # type: ignore[index]
                row = conn.execute(
                    "select count(*) filter (where shard = %s), count(*) filter (where fenced) "
                    "from cryb_shards.buckets",
                    (shard_id,),
                ).fetchone()
                status.owned_overrides, status.fenced = (int(row[0]), int(row[1])) if row else (0, 0)
                status.blocked = {
                    str(r): int(n)
                    for r, n in conn.execute("select reason, count(*) from cryb_shards.blocked group by 1").fetchall()
                }
                cursor = conn.execute(
                    "select move_id, first_bucket, last_bucket, source, target, step, rows_copied, rows_deleted, "
                    "extract(epoch from switched_at - fenced_at)::float8 as pause_seconds, updated_at "
                    "from cryb_shards.moves order by started_at"
                )
                names = [c.name for c in cursor.description or []]
                status.moves = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        except psycopg.Error as exc:
            status.error = str(exc).splitlines()[0]
        result.append(status)
    return result
