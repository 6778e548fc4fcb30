"""The health checks' evaluation (pure) and the command's argument handling (no database)."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from scripts.health import Credentials, health_app, targets_from_outputs
from scripts.health_checks import (
    GIB,
    MIB,
    Above,
    Below,
    IndexRow,
    LockWaitRow,
    ReaderRow,
    ReplicaRow,
    SessionRow,
    ShardSample,
    SlotRow,
    Status,
    TableRow,
    Thresholds,
    balance,
    evaluate,
    evaluate_performance,
    evaluate_replication,
    human_bytes,
    redact_query,
    skew_percent,
)

TH = Thresholds()


def names(findings: list, status: Status | None = None) -> list[tuple[str, str]]:
    return [(f.name, f.subject) for f in findings if status is None or f.status == status]


def table(name: str, rows: int, seq: int = 0, idx: int = 0) -> TableRow:
    return TableRow(name, rows, seq, seq * rows, idx)


def session(pid: int, state: str, seconds: float, query: str = "select 1") -> SessionRow:
    return SessionRow(pid, "app", "api", state, seconds, seconds, seconds, query)


# -- thresholds ----------------------------------------------------------------------------------------------------


def test_limits_are_strict_and_ordered() -> None:
    above = Above(warning=10, critical=20)
    assert [above.status(v) for v in (10, 10.5, 20, 20.5)] == [
        Status.OK,
        Status.WARNING,
        Status.WARNING,
        Status.CRITICAL,
    ]
    below = Below(warning=0.99, critical=0.95)
    assert [below.status(v) for v in (0.99, 0.98, 0.95, 0.94)] == [
        Status.OK,
        Status.WARNING,
        Status.WARNING,
        Status.CRITICAL,
    ]
    with pytest.raises(ValidationError, match="must be >= warning"):
        Above(warning=20, critical=10)
    with pytest.raises(ValidationError, match="must be <= warning"):
        Below(warning=0.9, critical=0.95)


def test_thresholds_file_uses_camel_case_and_rejects_unknown_keys() -> None:
    th = Thresholds.model_validate({"replicaLagSeconds": {"warning": 1, "critical": 2}, "minRowsForSkew": 5})
    assert (th.replica_lag_seconds.critical, th.min_rows_for_skew, th.xid_age.critical) == (2, 5, 1_000_000_000)
    with pytest.raises(ValidationError, match="replicaLagSecond"):
        Thresholds.model_validate({"replicaLagSecond": {"warning": 1, "critical": 2}})


# -- replication ---------------------------------------------------------------------------------------------------


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


# -- balance -------------------------------------------------------------------------------------------------------


def test_skew_percent() -> None:
    assert (skew_percent(150, 100), skew_percent(50, 100), skew_percent(7, 0)) == (50.0, -50.0, 0.0)


def test_balance_flags_shards_and_tables_far_from_the_mean() -> None:
    th = Thresholds(min_rows_for_skew=100, min_bytes_for_skew=0)
    shards = [
        ShardSample("a", size_bytes=100 * MIB, tables=[table("public.messages", 1000), table("public.users", 300)]),
        ShardSample("b", size_bytes=100 * MIB, tables=[table("public.messages", 1000), table("public.users", 300)]),
        ShardSample("c", size_bytes=190 * MIB, tables=[table("public.messages", 2500)]),
    ]
    document, found = balance(shards, th)
    rows = {(f.shard, f.name, f.subject): f for f in found}
    # rows: a=b=1300, c=2500, mean 1700 -> c +47 % (warning), a/b -24 % (warning)
    assert rows[("c", "rows-skew", "database")].status == Status.WARNING
    assert rows[("a", "rows-skew", "database")].value == pytest.approx(-23.5, abs=0.1)
    # size: mean 130 MiB -> c +46 % (warning), a/b -23 % (warning)
    assert rows[("c", "size-skew", "database")].status == Status.WARNING
    # users exist on a and b only: c is -100 % from the mean of 200 (critical)
    assert rows[("c", "table-skew", "public.users")].status == Status.CRITICAL
    assert rows[("c", "table-skew", "public.messages")].status == Status.CRITICAL  # 2500 vs mean 1500: +67 %
    assert [s["rows"] for s in document["shards"]] == [1300, 1300, 2500]
    assert document["tables"][1]["rows"] == {"a": 300, "b": 300, "c": 0}


def test_balance_ignores_small_data_unreachable_shards_and_single_shards() -> None:
    small = [ShardSample("a", size_bytes=8 * MIB, tables=[table("t", 10)]), ShardSample("b", size_bytes=9 * MIB)]
    assert balance(small, TH)[1] == []  # below minRowsForSkew / minBytesForSkew: noise
    th = Thresholds(min_rows_for_skew=0, min_bytes_for_skew=0)
    down = [ShardSample("a", tables=[table("t", 10)]), ShardSample("b", reachable=False)]
    document, found = balance(down, th)
    assert (document["evaluated"], found) == (False, [])


# -- performance ---------------------------------------------------------------------------------------------------


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


# -- report --------------------------------------------------------------------------------------------------------


def test_report_status_is_the_worst_finding_and_lists_critical_first() -> None:
    ok = ShardSample("ok", size_bytes=MIB)
    warn = ShardSample("warn", slots=[SlotRow("old", "physical", False, 0, "reserved")])
    down = ShardSample("down", reachable=False, error="timeout")
    assert evaluate([ok], TH).status == Status.OK
    assert evaluate([ok, warn], TH).status == Status.WARNING
    report = evaluate([ok, warn, down], TH)
    assert (report.status, report.document["exitCode"], report.document["status"]) == (Status.CRITICAL, 2, "critical")
    assert [f["name"] for f in report.document["findings"]] == ["writer-unreachable", "inactive-slot"]
    assert json.loads(json.dumps(report.document))["thresholds"]["xidAge"] == {
        "warning": 500_000_000.0,
        "critical": 1_000_000_000.0,
    }


def test_redaction_and_units() -> None:
    assert (
        redact_query("alter role app password 'hunter2'  ;\n select 'it''s'")
        == "alter role app password '?' ; select '?'"
    )
    assert (human_bytes(512), human_bytes(3 * MIB), human_bytes(1.5 * GIB)) == ("512 B", "3.0 MiB", "1.5 GiB")


# -- command arguments (no database) -------------------------------------------------------------------------------

OUTPUTS = {
    "postgres": {
        "shards": [
            {
                "name": "cryb-prod-pg-00",
                "topology": "instance",
                "writerEndpoint": "w0.example",
                "readerEndpoints": ["r0.example", "r1.example:6000"],
                "port": 5433,
                "databaseName": "cryb",
                "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0",
            },
            {
                "name": "cryb-prod-pg-01",
                "topology": "cluster",
                "writerEndpoint": "c1.example",
                "readerEndpoints": ["c1-ro.example"],
                "port": 5433,
                "databaseName": "cryb",
                "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1",
            },
        ]
    }
}


def test_targets_from_stack_outputs_use_each_shards_secret() -> None:
    read: list[str] = []

    def secret(arn: str) -> dict[str, str]:
        read.append(arn)
        return {"username": "cryb_admin", "password": f"pw-{arn[-1]}"}

    preview_document = {"outputs": OUTPUTS}  # `preview --json` wraps the outputs
    targets = targets_from_outputs(
        preview_document, credentials=Credentials.secret, sslmode="verify-full", sslrootcert=None, secret_reader=secret
    )
    assert [(t.name, t.expected_replicas) for t in targets] == [("cryb-prod-pg-00", 2), ("cryb-prod-pg-01", 2)]
    assert [r.label for r in targets[0].readers] == ["r0.example:5433/cryb", "r1.example:6000/cryb"]
    assert "sslmode=verify-full" in targets[0].writer.conninfo and "password=pw-0" in targets[0].writer.conninfo
    assert "pw-0" not in repr(targets[0])
    assert len(read) == 2
    env = targets_from_outputs(OUTPUTS, credentials=Credentials.env, sslmode="require", sslrootcert=None)
    assert "password" not in env[0].writer.conninfo  # libpq reads PGPASSWORD / .pgpass


@pytest.mark.parametrize(
    ("args", "message"),
    [([], "either --outputs"), (["--outputs", "OUT", "--dsn", "host=x"], "either --outputs")],
)
def test_exactly_one_source_is_required(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "outputs.json"
    out.write_text(json.dumps(OUTPUTS))
    result = CliRunner().invoke(health_app, [a.replace("OUT", str(out)) for a in args])
    assert result.exit_code == 2 and message in result.output


def test_invalid_thresholds_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("xidAge: {warning: 10, critical: 5}\n")
    result = CliRunner().invoke(health_app, ["--dsn", "host=127.0.0.1 port=1", "--thresholds", str(bad)])
    assert result.exit_code == 2 and "must be >= warning" in result.output
