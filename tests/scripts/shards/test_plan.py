"""The move tool's pure parts: bucket ranges, plans and their refusals, splits as moves, the ledger it writes."""

import json
from pathlib import Path

import pytest

from components.postgres.shard_map import moves
from cryb_db_client import LiveMap, parse
from scripts.bench.shard_move import percentile
from scripts.shards.ledger import record_finished
from scripts.shards.plan import MovePlan, PlanError, parse_buckets, plan_move
from scripts.shards.split import remaining_moves
from tests.servers.shards import stack_outputs


def _live(shards: int = 3, map_shards: int = 2, **kwargs: object) -> LiveMap:
    arn = "arn:aws:secretsmanager:us-east-1:1:secret:s"
    base = parse(stack_outputs([(6000 + i, arn, "app") for i in range(shards)], map_shards=map_shards)).shard_map
    return LiveMap(base, **kwargs)  # type: ignore[arg-type]


def test_bucket_ranges_name_the_bad_value() -> None:
    assert parse_buckets("0-255", 1024) == (0, 255)
    assert parse_buckets(" 7 ", 1024) == (7, 7)
    with pytest.raises(PlanError, match=r"--buckets '0\.\.9': expected A-B"):
        parse_buckets("0..9", 1024)
    with pytest.raises(PlanError, match=r"--buckets 9-1024: must satisfy 0 <= A <= B <= 1023"):
        parse_buckets("9-1024", 1024)
    with pytest.raises(PlanError, match="must satisfy"):
        parse_buckets("9-3", 1024)


def test_a_plan_moves_from_the_one_owner() -> None:
    plan = plan_move(_live(), [0, 1, 2], 0, 255, 2)
    assert plan == MovePlan(0, 255, 0, 2)
    assert plan.move_id == "b0000_0255_s0_t2" and plan.replication_name == "cryb_move_b0000_0255_s0_t2"
    moved = _live(owners=dict.fromkeys(range(256), 2))
    assert plan_move(moved, [0, 1, 2], 0, 10, 1).source == 2  # the live map, not the published one


def test_plans_that_cannot_be_are_refused() -> None:
    with pytest.raises(PlanError, match=r"--to 5: no such shard in the outputs \(shards: \[0, 1, 2\]\)"):
        plan_move(_live(), [0, 1, 2], 0, 10, 5)
    with pytest.raises(PlanError, match=r"they live on shards \[0, 1\]"):
        plan_move(_live(), [0, 1, 2], 500, 520, 2)
    with pytest.raises(PlanError, match="already on shard 0"):
        plan_move(_live(), [0, 1, 2], 0, 10, 0)
    with pytest.raises(PlanError, match="fenced by another move"):
        plan_move(_live(fenced=frozenset({3})), [0, 1, 2], 0, 10, 2)


def test_a_split_is_the_programs_moves_cut_small() -> None:
    live = _live(shards=8, map_shards=4)
    pending = remaining_moves(live, 8, 32)
    planned = moves(1024, 4, 8)
    assert sum(last - first + 1 for first, last, _, _ in pending) == sum(m.last - m.first + 1 for m in planned)
    assert max(last - first + 1 for first, last, _, _ in pending) == 32
    assert {(s, t) for _, _, s, t in pending} == {(m.source, m.target) for m in planned}
    done = LiveMap(live.base, 1, {b: t for first, last, _, t in pending for b in range(first, last + 1)})
    assert remaining_moves(done, 8, 32) == []


def test_finishing_records_the_move_once(tmp_path: Path) -> None:
    ledger = tmp_path / "shardmoves" / "prod.json"
    first = MovePlan(0, 31, 0, 4)
    record_finished(ledger, first, 1024, start_shards=4)
    record_finished(ledger, first, 1024, start_shards=4)
    written = json.loads(ledger.read_text())
    assert written["startShards"] == 4 and len(written["moves"]) == 1
    assert written["moves"][0] | {"finishedAt": ""} == {
        "first": 0,
        "last": 31,
        "source": 0,
        "target": 4,
        "finishedAt": "",
    }
    with pytest.raises(ValueError, match="some were on shards"):
        record_finished(ledger, MovePlan(0, 300, 0, 5), 1024)


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0
    assert percentile([0.1, 5.0], 99) == 5.0


class _Answers:
    """A connection that answers the lag query with `lag` seconds."""

    def __init__(self, lag: float):
        self.lag = lag

    def execute(self, query: str, params: object = None) -> "_Answers":
        return self

    def fetchone(self) -> tuple[float]:
        return (self.lag,)


def test_a_move_is_refused_when_storage_or_lag_is_out_of_bounds() -> None:
    from scripts.shards.checks import GIB, Bounds, problems

    shards = parse(stack_outputs([(6000, "arn:aws:secretsmanager:us-east-1:1:secret:s", "app")] * 2, map_shards=1))
    conns = {"source": (_Answers(0.5), shards.shards[0]), "target": (_Answers(45.0), shards.shards[1])}
    free = {0: 50 * GIB, 1: 10 * GIB}
    found = problems(conns, 5 * GIB, Bounds(min_free_gb=1.0, max_lag_seconds=30.0), lambda c, s, b: free[s.id])  # type: ignore[arg-type]
    assert found == [
        "target shard 1 (shard1): 10.0 GiB free, the move needs 11.0 GiB "
        "(--min-free-gb 1 + 2 x 5.00 GiB on the target)",
        "target shard 1 (shard1): replication lag 45.0 s > --max-lag-seconds 30",
    ]
    unknown = problems(conns, 0, Bounds(max_lag_seconds=60.0), lambda c, s, b: None)  # type: ignore[arg-type]
    assert [p.split(":")[1].strip() for p in unknown] == [
        "free storage unknown (no CloudWatch datapoint, not a local server); pass --assume-free-gb after checking it"
    ] * 2
