"""The shard map applications route with: keys hash to a fixed set of logical buckets; contiguous bucket ranges
live on physical shards (pure; docs/postgres.md "Routing with the shard map").

Hash (stable, implementable in any language, never to change for a given map):

    bucket = uint64_big_endian(sha256(key_bytes)[0:8]) mod bucket_count

`key_bytes` is the UTF-8 of the key; integer keys (user id, community id) are written in decimal ASCII
without leading zeros (`42` -> b"42", `-7` -> b"-7"). The bucket count is a power of two, so the modulo
has no bias. Buckets never change; only the bucket -> shard ranges do when shards are added.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from cryb_db_client import hashing

HASH_ALGORITHM = "sha256-first8-be-mod"
DEFAULT_BUCKET_COUNT = 1024
SCHEMA_VERSION = 1


def _check_bucket_count(bucket_count: int) -> None:
    if bucket_count < 1 or bucket_count & (bucket_count - 1):
        raise ValueError(f"bucket_count={bucket_count}: must be a power of two")


def bucket_of(key: int | str | bytes, bucket_count: int = DEFAULT_BUCKET_COUNT) -> int:
    """The logical bucket of `key`: the router's rule (cryb_db_client.hashing), so the program and the
    applications cannot disagree."""
    return hashing.bucket_of(key, bucket_count)


@dataclass(frozen=True)
class BucketRange:
    """Buckets `first`..`last` (inclusive) live on shard `shard`."""

    shard: int
    first: int
    last: int


def _shard_at(position: int, shard_count: int) -> int:
    """Which shard holds the `position`-th range. Ranges of an odd count are in shard order; doubling splits
    every range in place, the lower half keeps its shard and the upper half goes to shard + N (the new one)."""
    if shard_count % 2:
        return position
    half = shard_count // 2
    return _shard_at(position // 2, half) + (position % 2) * half


def assign(bucket_count: int, shard_count: int) -> tuple[BucketRange, ...]:
    """Contiguous, near-equal ranges (sizes differ by at most one bucket), one per shard, in bucket order.

    The k-th range is [k*B//N, (k+1)*B//N); shard ids are laid out so that N -> 2N keeps every existing shard
    on the lower half of its range: 4 shards are ordered 0, 2, 1, 3 along the buckets.
    """
    _check_bucket_count(bucket_count)
    if not 1 <= shard_count <= bucket_count:
        raise ValueError(f"shard_count={shard_count}: must be between 1 and bucket_count ({bucket_count})")
    return tuple(
        BucketRange(
            _shard_at(k, shard_count), k * bucket_count // shard_count, (k + 1) * bucket_count // shard_count - 1
        )
        for k in range(shard_count)
    )


def shard_of_bucket(ranges: tuple[BucketRange, ...], bucket: int) -> int:
    for r in ranges:
        if r.first <= bucket <= r.last:
            return r.shard
    raise ValueError(f"bucket {bucket} is in no range")


def shard_for(key: int | str | bytes, bucket_count: int, shard_count: int) -> int:
    """The shard that holds `key` under the map assign(bucket_count, shard_count)."""
    return shard_of_bucket(assign(bucket_count, shard_count), bucket_of(key, bucket_count))


@dataclass(frozen=True)
class Move:
    """Buckets `first`..`last` move from shard `source` to shard `target`."""

    first: int
    last: int
    source: int
    target: int


def moves(bucket_count: int, old_shards: int, new_shards: int) -> tuple[Move, ...]:
    """The bucket ranges whose shard changes when the map goes from `old_shards` to `new_shards` shards.

    Doubling (N -> 2N) moves half the buckets, the minimum any scheme can do (1 - N/M); other steps move
    more because every range shifts (4 -> 5 moves 65%), so grow by doubling (1, 2, 4, 8 or 3, 6, 12).
    """
    old, new = assign(bucket_count, old_shards), assign(bucket_count, new_shards)
    result: list[Move] = []
    for bucket in range(bucket_count):
        source, target = shard_of_bucket(old, bucket), shard_of_bucket(new, bucket)
        if source == target:
            continue
        last = result[-1] if result else None
        if last and last.last == bucket - 1 and (last.source, last.target) == (source, target):
            result[-1] = Move(last.first, bucket, source, target)
        else:
            result.append(Move(bucket, bucket, source, target))
    return tuple(result)


def moved_fraction(bucket_count: int, old_shards: int, new_shards: int) -> float:
    return sum(m.last - m.first + 1 for m in moves(bucket_count, old_shards, new_shards)) / bucket_count


def document(bucket_count: int, shard_count: int) -> dict[str, Any]:
    """The JSON apps route with (a stack output). `version` changes whenever any bucket changes shard."""
    body: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "hash": HASH_ALGORITHM,
        "bucketCount": bucket_count,
        "ranges": [asdict(r) for r in assign(bucket_count, shard_count)],
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return {"version": hashlib.sha256(canonical).hexdigest()[:16], **body}
