"""A split as moves (pure): the ranges whose owner in the map in force differs from the N-shard map, cut into
moves of at most `buckets_per_move` buckets, in bucket order."""

from __future__ import annotations

from components.postgres.shard_map import assign, shard_of_bucket
from cryb_db_client.live_map import LiveMap


def remaining_moves(live: LiveMap, shards: int, buckets_per_move: int) -> list[tuple[int, int, int, int]]:
    """(first, last, source, target) of every move still needed."""
    goal = assign(live.base.bucket_count, shards)
    result: list[tuple[int, int, int, int]] = []
    for bucket in range(live.base.bucket_count):
        source, target = live.owner(bucket), shard_of_bucket(goal, bucket)
        if source == target:
            continue
        last = result[-1] if result else None
        if (
            last
            and last[1] == bucket - 1
            and (last[2], last[3]) == (source, target)
            and last[1] - last[0] + 1 < buckets_per_move
        ):
            result[-1] = (last[0], bucket, source, target)
        else:
            result.append((bucket, bucket, source, target))
    return result
