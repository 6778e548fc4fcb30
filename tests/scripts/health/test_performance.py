"""Performance checks (scripts/health/performance.py): sessions, locks, XID age, cache hit ratio, unused indexes
and sequential scans."""

from scripts.health.performance import evaluate_performance
from scripts.health.samples import (
    IndexRow,
    LockWaitRow,
    ShardSample,
)
from scripts.health.thresholds import MIB, Status
from tests.scripts.health.samples import TH, names, session, table


def test_sessions_locks_and_xid_age() -> None:
    sample = ShardSample(
        "s0",
        sessions=[
            session(1, "active", 400, "select * from users where email = 'a@b.c'"),
            session(2, "idle in transaction", 40),
            session(3, "idle in transaction (aborted)", 10),
            session(4, "idle", 9999),
        ],
        lock_waits=[LockWaitRow(5, 90.0, [2], "update users set name = 'x'")],
        xid_age=600_000_000,
        xid_database="app",
    )
    found = {(f.name, f.subject.split(" (")[0]): f for f in evaluate_performance(sample, TH)}
    assert found[("long-running", "pid 1")].status == Status.CRITICAL
    assert "a@b.c" not in found[("long-running", "pid 1")].message  # literals are redacted
    assert found[("idle-in-transaction", "pid 2")].status == Status.WARNING
    assert ("idle-in-transaction", "pid 3") not in found  # 10 s is below the 30 s warning
    assert not [k for k in found if k[1] == "pid 4"]  # idle sessions are fine
    lock = found[("blocked-lock", "pid 5")]
    assert (lock.status, "pid(s) 2" in lock.message) == (Status.CRITICAL, True)
    assert (found[("xid-age", "app")].status, found[("xid-age", "app")].threshold) == (Status.WARNING, 500_000_000)


def test_cache_hit_ratio_needs_enough_reads() -> None:
    assert evaluate_performance(ShardSample("s0", blks_hit=90, blks_read=10), TH) == []
    (finding,) = evaluate_performance(ShardSample("s0", blks_hit=90_000, blks_read=10_000), TH)
    assert (finding.name, finding.status, finding.value) == ("cache-hit-ratio", Status.CRITICAL, 0.9)


def test_unused_indexes_and_sequential_scans() -> None:
    sample = ShardSample(
        "s0",
        unused_indexes=[IndexRow("public.t", "big_idx", 200 * MIB, 0), IndexRow("public.t", "tiny_idx", MIB, 0)],
        tables=[
            table("public.scanned", 500_000, seq=90, idx=10),
            table("public.indexed", 500_000, seq=10, idx=90),
            table("public.small", 10, seq=100),
        ],
    )
    assert names(evaluate_performance(sample, TH)) == [
        ("unused-index", "public.t.big_idx"),
        ("heavy-seq-scans", "public.scanned"),
    ]
