"""Replication checks (scripts/health/replication.py): replicas, lag, slots and readers."""

from scripts.health.replication import evaluate_replication
from scripts.health.samples import (
    ReaderRow,
    ReplicaRow,
    ShardSample,
    SlotRow,
)
from scripts.health.thresholds import GIB, MIB, Status
from tests.scripts.health.samples import TH, names


def test_missing_and_lagging_replicas() -> None:
    sample = ShardSample(
        "s0",
        expected_replicas=2,
        replicas=[
            ReplicaRow("r1", "10.0.0.1", "streaming", "async", 100 * MIB, 2.0),
            ReplicaRow("r2", "10.0.0.2", "catchup", "async", 2 * GIB, 400.0),
        ],
    )
    found = evaluate_replication(sample, TH)
    by_name = {(f.name, f.subject): f for f in found}
    assert by_name[("replicas-missing", "replicas")].status == Status.CRITICAL
    assert (by_name[("replicas-missing", "replicas")].value, by_name[("replicas-missing", "replicas")].threshold) == (
        1,
        2,
    )
    assert by_name[("replica-lag-bytes", "r1")].status == Status.WARNING
    assert by_name[("replica-lag-bytes", "r1")].threshold == 64 * MIB
    assert by_name[("replica-lag-bytes", "r2")].status == Status.CRITICAL
    assert by_name[("replica-lag-seconds", "r2")].status == Status.CRITICAL
    assert ("replica-lag-seconds", "r1") not in by_name
    assert by_name[("replica-not-streaming", "r2")].status == Status.WARNING


def test_replication_stats_hidden_by_privileges_are_not_missing_replicas() -> None:
    sample = ShardSample("s0", expected_replicas=1, replicas=[ReplicaRow("r1", "local", "", "", None, None)])
    assert names(evaluate_replication(sample, TH)) == [("replication-stats-hidden", "pg_stat_replication")]


def test_slots_inactive_is_at_least_a_warning_and_big_retention_is_critical() -> None:
    sample = ShardSample(
        "s0",
        slots=[
            SlotRow("gone_consumer", "physical", False, 1024, "reserved"),
            SlotRow("busy_consumer", "logical", True, 20 * GIB, "extended"),
            SlotRow("fine", "physical", True, 10 * MIB, "reserved"),
        ],
    )
    found = {f.subject: f for f in evaluate_replication(sample, TH)}
    assert (found["gone_consumer"].name, found["gone_consumer"].status) == ("inactive-slot", Status.WARNING)
    assert (found["busy_consumer"].name, found["busy_consumer"].status) == ("slot-retained-wal", Status.CRITICAL)
    assert "fine" not in found


def test_readers_must_be_reachable_standbys_and_current() -> None:
    sample = ShardSample(
        "s0",
        readers=[
            ReaderRow("r1:5433/app", False, error="connection refused"),
            ReaderRow("r2:5433/app", True, in_recovery=False, lag_bytes=0, lag_seconds=0.0),
            ReaderRow("r3:5433/app", True, in_recovery=True, lag_bytes=0, lag_seconds=45.0),
        ],
    )
    assert names(evaluate_replication(sample, TH)) == [
        ("reader-unreachable", "r1:5433/app"),
        ("reader-not-standby", "r2:5433/app"),
        ("reader-lag-seconds", "r3:5433/app"),
    ]


def test_a_writer_in_recovery_is_the_only_replication_finding() -> None:
    sample = ShardSample("s0", in_recovery=True, expected_replicas=1)
    assert names(evaluate_replication(sample, TH), Status.CRITICAL) == [("writer-in-recovery", "writer")]
