"""The shard map: a stable hash to buckets, contiguous ranges covering every bucket once, minimal moves."""

import json
from collections import Counter

import pytest

from components.postgres.shard_map import assign, bucket_of, document, moved_fraction, moves, shard_for, shard_of_bucket


@pytest.mark.parametrize(
    ("key", "bucket"),
    [(1, 225), (42, 653), ("42", 653), ("abc", 1002), (b"x", 68), (-7, 493), (10**18, 864), ("ü", 804)],
)
def test_hash_is_pinned(key: int | str | bytes, bucket: int) -> None:
    """Apps in other languages implement the same hash: these values must never change."""
    assert bucket_of(key, 1024) == bucket


def test_integer_keys_hash_as_their_decimal_text() -> None:
    assert all(bucket_of(n, 4096) == bucket_of(str(n), 4096) for n in range(0, 5000, 7))


@pytest.mark.parametrize("key", [True, 1.5, None])
def test_other_key_types_are_rejected(key: object) -> None:
    with pytest.raises(TypeError):
        bucket_of(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("bucket_count", [0, 1000, 3])
def test_bucket_count_must_be_a_power_of_two(bucket_count: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        bucket_of(1, bucket_count)


@pytest.mark.parametrize(("bucket_count", "shards"), [(1024, 1), (1024, 3), (1024, 4), (1024, 7), (4096, 16), (256, 5)])
def test_every_bucket_is_on_exactly_one_shard_in_contiguous_ranges(bucket_count: int, shards: int) -> None:
    ranges = assign(bucket_count, shards)
    owners = Counter(b for r in ranges for b in range(r.first, r.last + 1))
    assert sorted(owners) == list(range(bucket_count)) and set(owners.values()) == {1}
    assert sorted(r.shard for r in ranges) == list(range(shards)), "one range per shard"
    assert [r.first for r in ranges[1:]] == [r.last + 1 for r in ranges[:-1]], "ranges are contiguous, in order"
    sizes = [r.last - r.first + 1 for r in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_four_shards_in_split_order() -> None:
    assert [(r.shard, r.first, r.last) for r in assign(1024, 4)] == [
        (0, 0, 255),
        (2, 256, 511),
        (1, 512, 767),
        (3, 768, 1023),
    ]


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 4), (4, 8), (3, 6), (8, 16)])
def test_doubling_moves_half_the_buckets_and_only_to_new_shards(old: int, new: int) -> None:
    planned = moves(1024, old, new)
    assert moved_fraction(1024, old, new) == 0.5
    assert all(m.target >= old for m in planned), "existing shards only give buckets away"


@pytest.mark.parametrize(("old", "new"), [(4, 4), (4, 5), (4, 6), (5, 4), (1, 4), (3, 8)])
def test_moves_are_exactly_the_buckets_that_change_shard(old: int, new: int) -> None:
    before, after = assign(1024, old), assign(1024, new)
    expected = {b: (shard_of_bucket(before, b), shard_of_bucket(after, b)) for b in range(1024)}
    expected = {b: pair for b, pair in expected.items() if pair[0] != pair[1]}
    got = {b: (m.source, m.target) for m in moves(1024, old, new) for b in range(m.first, m.last + 1)}
    assert got == expected
    # No scheme can move less than 1 - old/new of the data when growing.
    assert moved_fraction(1024, old, new) >= max(0.0, 1 - old / new)


def test_keys_spread_evenly_over_shards() -> None:
    counts = Counter(shard_for(user_id, 1024, 4) for user_id in range(40_000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(abs(c - 10_000) < 400 for c in counts.values()), counts


def test_document_is_json_with_a_version_that_tracks_the_assignment() -> None:
    doc = document(1024, 4)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["version"] == "80966ff123cebf82"  # pinned: apps cache maps by version
    assert doc["bucketCount"] == 1024 and doc["hash"] == "sha256-first8-be-mod"
    assert document(1024, 4)["version"] == doc["version"]
    assert len({document(1024, n)["version"] for n in (1, 2, 4, 8)} | {document(2048, 4)["version"]}) == 5


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # 2 shards own 0-511 and 512-1023; 4 in split order own 0-255 (0), 256-511 (2), 512-767 (1), 768-1023 (3)
        (2, 4, [(256, 511, 0, 2), (768, 1023, 1, 3)]),
        (4, 2, [(256, 511, 2, 0), (768, 1023, 3, 1)]),
        # 3 shards: 1024 = 341 + 341 + 342 -> 0-340 (0), 341-681 (1), 682-1023 (2); 512-681 stays on shard 1
        (2, 3, [(341, 511, 0, 1), (682, 1023, 1, 2)]),
        (3, 3, []),
    ],
)
def test_moves_worked_out_by_hand(old: int, new: int, expected: list[tuple[int, int, int, int]]) -> None:
    assert [(m.first, m.last, m.source, m.target) for m in moves(1024, old, new)] == expected
