"""Splits as sequences of moves: the published map changes only when the finished moves complete a map, and a
shard count that would drop shards holding buckets is refused."""

import pytest

from components.postgres.shard_ledger import Ledger, LedgerError, LedgerMove, ledger_problems, published_map_shards
from components.postgres.shard_map import moves


def _split(start: int, end: int, done: int | None = None) -> Ledger:
    planned = [LedgerMove(m.first, m.last, m.source, m.target) for m in moves(1024, start, end)]
    return Ledger(1024, start, tuple(planned[:done] if done is not None else planned))


def test_the_map_stays_until_every_move_of_the_split_is_finished() -> None:
    assert _split(4, 8, 0).published_shards() == 4
    assert _split(4, 8, 3).published_shards() == 4  # half-way: the old map, the router follows the moves
    assert _split(4, 8).published_shards() == 8
    assert _split(4, 8, 3).pending(8) == [(m.first, m.last, m.source, m.target) for m in moves(1024, 4, 8)[3:]]
    assert _split(4, 8).pending(8) == []


def test_a_split_in_smaller_moves_reaches_the_same_map() -> None:
    chunks = tuple(
        LedgerMove(first, min(first + 31, m.last), m.source, m.target)
        for m in moves(1024, 4, 8)
        for first in range(m.first, m.last + 1, 32)
    )
    assert len(chunks) == 16
    assert Ledger(1024, 4, chunks).published_shards() == 8
    assert Ledger(1024, 4, chunks[:15]).published_shards() == 4


def test_a_ledger_that_does_not_follow_from_its_start_is_refused() -> None:
    wrong = Ledger(1024, 4, (LedgerMove(0, 300, 0, 4),))  # buckets 256-300 were on shard 2
    with pytest.raises(LedgerError, match=r"moves\[0\] buckets 0-300 from shard 0: some were on shards \[2\]"):
        wrong.ownership()
    assert "some were on shards [2]" in ledger_problems(wrong, 8, 1024, "shardmoves/prod.json")[0]


def test_the_shard_count_must_keep_every_shard_that_holds_buckets() -> None:
    ledger = _split(4, 8, 2)  # the first two moves went to shards 4 and 5 (moves() order)
    holding = max(ledger.ownership()) + 1
    assert ledger_problems(ledger, holding, 1024, "shardmoves/prod.json") == []
    refused = ledger_problems(ledger, 4, 1024, "shardmoves/prod.json")
    assert refused and refused[0].startswith("cryb-db:postgres.shardCount = 4: the finished moves in shardmoves/")
    assert f"must be >= {holding}" in refused[0]
    assert "never changes" in ledger_problems(ledger, 8, 2048, "shardmoves/prod.json")[0]


def test_without_a_ledger_the_map_spans_every_shard() -> None:
    assert published_map_shards(None, 6) == 6
    assert published_map_shards(_split(4, 8, 1), 8) == 4
    assert published_map_shards(_split(4, 8, 0), 8) == 4  # shards added, nothing moved yet: the 4-shard map
    assert published_map_shards(_split(4, 8, 0), 2) == 2  # nothing recorded holds shards 2-3 (a smaller variant)
    assert ledger_problems(_split(4, 8, 0), 2, 1024, "shardmoves/prod.json") == []
