"""`python -m scripts health` against real PostgreSQL servers with induced faults: a stopped replica, an abandoned
slot, a paused replica, an open transaction, a blocked lock, and two unevenly filled shards."""

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from scripts.health.command import health_app
from scripts.servers.process import wait_until
from tests.servers.postgres import PostgresFactory, PostgresServer

pytestmark = pytest.mark.servers
MIB = 1024**2
QUIET = {"minBlocksForHitRatio": 10**12}  # fresh servers have too few block reads for a meaningful ratio


def run_health(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(health_app, [*args, "--json", "--connect-attempts", "1"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def write_thresholds(tmp_path: Path, **limits: Any) -> str:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({**QUIET, **limits}))
    return str(path)


def findings(document: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [f for f in document["findings"] if f["name"] == name]


def streaming(primary: PostgresServer, replicas: int = 1) -> None:
    wait_until(
        lambda: primary.scalar("select count(*) from pg_stat_replication where state = 'streaming'") == replicas,
        what="replica streaming",
        timeout=20,
    )


def test_stopped_replica_turns_a_healthy_report_critical(
    postgres_factory: PostgresFactory, moto_server: str, tmp_path: Path
) -> None:
    primary = postgres_factory.create(name="shard0")
    replica = postgres_factory.create(name="shard0-replica", replica_of=primary)
    other = postgres_factory.create(name="shard1")
    streaming(primary)
    secrets = boto3.client("secretsmanager")
    shards = []
    for index, server in enumerate((primary, other)):
        arn = secrets.create_secret(
            Name=f"rds!db-shard{index}",
            SecretString=json.dumps({"username": server.info.user, "password": server.info.password}),
        )["ARN"]
        readers = [f"{replica.info.host}:{replica.info.port}"] if server is primary else []
        shards.append(
            {
                "id": index,
                "name": f"cryb-test-pg-{index:02d}",
                "topology": "instance",
                "writerEndpoint": server.info.host,
                "port": server.info.port,
                "readerEndpoints": readers,
                "databaseName": server.info.dbname,
                "secretArn": arn,
            }
        )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"postgres": {"shards": shards}}))
    args = ("--outputs", str(outputs), "--sslmode", "disable", "--thresholds", write_thresholds(tmp_path))

    code, healthy = run_health(*args)
    assert (code, healthy["status"], healthy["findings"]) == (0, "ok", [])
    shard0 = healthy["shards"][0]["replication"]
    assert [r["state"] for r in shard0["replicas"]] == ["streaming"]
    assert shard0["replicas"][0]["lagBytes"] is not None
    assert [(r["reachable"], r["inRecovery"]) for r in shard0["readers"]] == [(True, True)]

    replica.stop()
    code, broken = run_health(*args)
    assert (code, broken["status"]) == (2, "critical")
    missing = findings(broken, "replicas-missing")
    assert [(f["shard"], f["status"], f["value"], f["threshold"]) for f in missing] == [
        ("cryb-test-pg-00", "critical", 0, 1)
    ]
    assert [f["subject"] for f in findings(broken, "reader-unreachable")] == [
        f"{replica.info.host}:{replica.info.port}/postgres"
    ]
    assert primary.info.password not in json.dumps(broken)


def test_abandoned_slot_and_paused_replica_report_their_wal(postgres_factory: PostgresFactory, tmp_path: Path) -> None:
    primary = postgres_factory.create(name="lag-primary")
    replica = postgres_factory.create(name="lag-replica", replica_of=primary)
    streaming(primary)
    primary.execute("select pg_create_physical_replication_slot('abandoned_consumer', true)")
    replica.execute("select pg_wal_replay_pause()")
    primary.execute("create table filler as select g, repeat('x', 200) as pad from generate_series(1, 60000) g")
    primary.execute("select pg_switch_wal()")
    wait_until(
        lambda: (
            primary.scalar("select pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) from pg_stat_replication")
            > 4 * MIB
        ),
        what="replay falls behind",
        timeout=20,
    )
    thresholds = write_thresholds(
        tmp_path,
        replicaLagBytes={"warning": MIB, "critical": 1024 * MIB},
        slotRetainedBytes={"warning": MIB, "critical": 1024 * MIB},
    )
    try:
        code, report = run_health("--dsn", primary.info.dsn, "--expect-replicas", "1", "--thresholds", thresholds)
    finally:
        replica.execute("select pg_wal_replay_resume()")
    assert (code, report["status"]) == (1, "warning")
    (slot,) = findings(report, "inactive-slot")
    assert (slot["subject"], slot["status"]) == ("abandoned_consumer", "warning")
    assert slot["value"] > 4 * MIB
    slots = report["shards"][0]["replication"]["slots"]
    assert [(s["name"], s["active"]) for s in slots] == [("abandoned_consumer", False)]
    (lag,) = findings(report, "replica-lag-bytes")
    assert lag["status"] == "warning" and lag["value"] > 4 * MIB
    assert findings(report, "replicas-missing") == []  # paused, but still streaming


def test_open_transaction_blocked_lock_and_long_query(postgres_factory: PostgresFactory, tmp_path: Path) -> None:
    server = postgres_factory.create(name="perf")
    server.execute("create table accounts (id int primary key)")
    holder = server.connect()
    holder.execute("lock table accounts in access exclusive mode")  # opens a transaction and stays in it
    holder_pid = holder.info.backend_pid
    blocked_pid: list[int] = []

    def blocked() -> None:
        with server.connect(autocommit=True) as conn:
            blocked_pid.append(conn.info.backend_pid)
            conn.execute("select count(*) from accounts")

    def sleeper() -> None:
        with server.connect(autocommit=True) as conn:
            conn.execute("select pg_sleep(4)")

    threads = [threading.Thread(target=blocked), threading.Thread(target=sleeper)]
    for thread in threads:
        thread.start()
    try:
        wait_until(
            lambda: (
                server.scalar("select count(*) from pg_locks where not granted") == 1
                and server.scalar("select count(*) from pg_stat_activity where query like 'select pg_sleep%'") == 1
            ),
            what="a lock wait and a running query",
            timeout=10,
        )
        wait_until(
            lambda: server.scalar(
                "select min(now() - state_change) > interval '2 seconds' from pg_stat_activity "
                "where state = 'idle in transaction'"
            ),
            what="transaction idle for 2 s",
            timeout=10,
        )
        thresholds = write_thresholds(
            tmp_path,
            idleInTransactionSeconds={"warning": 0.5, "critical": 1.5},
            lockWaitSeconds={"warning": 0.5, "critical": 600},
            longRunningSeconds={"warning": 0.5, "critical": 600},
        )
        code, report = run_health("--dsn", server.info.dsn, "--thresholds", thresholds)
    finally:
        holder.rollback()
        holder.close()
        for thread in threads:
            thread.join(timeout=10)
    assert (code, report["status"]) == (2, "critical")
    (idle,) = findings(report, "idle-in-transaction")
    assert idle["status"] == "critical" and idle["subject"].startswith(f"pid {holder_pid} ")
    (lock,) = findings(report, "blocked-lock")
    assert lock["subject"] == f"pid {blocked_pid[0]}" and str(holder_pid) in lock["message"]
    assert lock["status"] == "warning"
    # The sleeping statement, and the blocked one, which is also still running.
    long_running = sorted(f["message"].split(": ", 1)[1] for f in findings(report, "long-running"))
    assert long_running == ["select count(*) from accounts", "select pg_sleep(4)"]
    assert report["shards"][0]["performance"]["idleInTransaction"] == 1


def test_skewed_shards_raise_a_balance_alert(postgres_factory: PostgresFactory, tmp_path: Path) -> None:
    big = postgres_factory.create(name="big", settings={"shared_preload_libraries": "pg_stat_statements"})
    small = postgres_factory.create(name="small")
    for server, rows in ((big, 40000), (small, 4000)):
        server.execute("create table messages (id bigint primary key, body text)")
        server.execute("create index messages_body on messages (body)")
        server.execute("insert into messages select g, 'message ' || g from generate_series(1, %s) g", (rows,))
        server.execute("analyze messages")
    big.execute("create extension pg_stat_statements")
    for _ in range(3):
        big.execute("select count(*) from messages where length(body) > 100")  # sequential scans
    thresholds = write_thresholds(tmp_path, minRowsForSkew=1000, unusedIndexBytes=1, seqScanMinRows=10000)

    code, report = run_health("--dsn", big.info.dsn, "--dsn", small.info.dsn, "--thresholds", thresholds)

    assert (code, report["status"]) == (2, "critical")
    big_label, small_label = (f"{s.info.host}:{s.info.port}/postgres" for s in (big, small))
    skews = {(f["shard"], f["status"]): f["value"] for f in findings(report, "rows-skew")}
    assert skews == {
        (big_label, "critical"): pytest.approx(81.8, abs=1),
        (small_label, "critical"): pytest.approx(-81.8, abs=1),
    }
    assert {f["subject"] for f in findings(report, "table-skew")} == {"public.messages"}
    assert [s["rows"] for s in report["balance"]["shards"]] == [40000, 4000]
    assert {(f["shard"], f["subject"]) for f in findings(report, "unused-index")} == {
        (big_label, "public.messages.messages_body"),
        (small_label, "public.messages.messages_body"),
    }
    assert [f["shard"] for f in findings(report, "heavy-seq-scans")] == [big_label]
    big_perf, small_perf = (s["performance"] for s in report["shards"])
    assert any("length(body)" in s["query"] for s in big_perf["topStatements"])
    assert small_perf["topStatements"] is None and "not installed" in small_perf["topStatementsNote"]


def test_unreachable_writer_is_critical_not_a_crash(tmp_path: Path) -> None:
    dsn = make_conninfo(host="127.0.0.1", port=1, dbname="x", user="u", password="hunter2-secret")
    code, report = run_health("--dsn", dsn)
    assert (code, report["findings"][0]["name"]) == (2, "writer-unreachable")
    assert "hunter2-secret" not in json.dumps(report)
