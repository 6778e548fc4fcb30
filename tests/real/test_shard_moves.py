"""Bucket moves on three real PostgreSQL 15 shards (TLS verify-full, secrets in moto) under a writer and a reader
that go through the application router: a quarter of the buckets moves with 0 rows lost or duplicated, no bucket
read from two shards, a short write pause; a mover killed mid-copy and mid-cut-over resumes to the same result."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from cryb_db_client import SQLSTATE_NOT_HERE, Router, bucket_of
from scripts import PROJECT_DIR
from scripts.servers.moto import MotoServer
from tests.servers.shard_workload import Reader, Writer
from tests.servers.shards import ShardRig, shard_rig

pytestmark = pytest.mark.servers

PAUSE_LIMIT_SECONDS = 2.0


@pytest.fixture(scope="module")
def rig(moto_instance: MotoServer) -> Iterator[ShardRig]:
    moto_instance.reset()
    with shard_rig(moto_instance, count=3, map_shards=2) as built:
        yield built


def _router(rig: ShardRig) -> Router:
    return Router.from_files(
        rig.outputs_path,
        credentials=rig.secrets_manager(),
        sslmode="verify-full",
        sslrootcert=rig.tls.ca_file,
        refresh_seconds=0.2,
        pool_max_size=4,
    )


def _cli(rig: ShardRig, command: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts", "shards", command, *rig.cli_args(command), *args],
        cwd=PROJECT_DIR,
        env={**rig.cli_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _hang_and_kill(rig: ShardRig, step: str, *args: str) -> None:
    """Run `shards move` until it stops at `step` (fault injection), then SIGKILL it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts", "shards", "move", *rig.cli_args("move"), *args],
        cwd=PROJECT_DIR,
        env={**rig.cli_env(), "CRYB_SHARDS_HANG_AT": step},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    try:
        deadline = time.monotonic() + 60
        for line in process.stderr:
            seen.append(line)
            if "stopping here until killed" in line:
                break
            assert time.monotonic() < deadline, "".join(seen)
        else:
            pytest.fail(f"mover exited before {step}: {''.join(seen)}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def _seed_profiles(router: Router, users: int = 500) -> None:
    for n in range(users):
        key = f"user-{n}"
        router.run(
            key,
            lambda txn, key=key: txn.execute(
                "insert into profiles (bucket, user_key, name) values (%s, %s, %s) on conflict do nothing",
                (txn.bucket, key, f"name of {key}"),
            ),
        )


def _journal_step(rig: ShardRig, target: int, first: int, last: int) -> str:
    with rig.connect(target) as conn:
        row = conn.execute(
            "select step from cryb_shards.moves where first_bucket = %s and last_bucket = %s", (first, last)
        ).fetchone()
    return str(row[0]) if row else ""


def _assert_exactly_once(rig: ShardRig, router: Router, writer: Writer) -> None:
    """Every committed row is on exactly one shard, the one the map in force names; nothing else is there."""
    router.refresh()
    live = router.live_map()
    where: dict[int, list[int]] = collections.defaultdict(list)
    for index in range(len(rig.servers)):
        with rig.connect(index) as conn:
            for row_id, bucket in conn.execute("select id, bucket from items").fetchall():
                where[row_id].append(index)
                assert live.owner(bucket) == index, f"row {row_id} (bucket {bucket}) on shard {index}"
            for (bucket,) in conn.execute("select bucket from profiles").fetchall():
                assert live.owner(bucket) == index, f"a profile of bucket {bucket} left on shard {index}"
    committed = {w.id for w in writer.committed}
    duplicated = {row_id: shards for row_id, shards in where.items() if len(shards) > 1}
    assert duplicated == {}
    assert committed - set(where) == set(), "committed rows lost"
    assert set(where) - committed == set(), "rows nobody committed"
    profiles = sum(rig.connect(i).execute("select count(*) from profiles").fetchone()[0] for i in range(3))
    assert profiles == 500


def _run_workload(rig: ShardRig) -> tuple[Router, Writer, Reader]:
    for index in range(len(rig.servers)):  # each test counts its own writer's rows
        with rig.connect(index) as conn:
            conn.execute("truncate items")
    router = _router(rig)
    _seed_profiles(router)
    writer, reader = Writer(router, rate=150, deadline=60.0), Reader(router)
    writer.start()
    reader.start()
    time.sleep(1.0)
    return router, writer, reader


@contextmanager
def _workload(rig: ShardRig) -> Iterator[tuple[Router, Writer, Reader]]:
    """A writer and a reader through the router while the test moves buckets; stopped and closed however it ends."""
    router, writer, reader = _run_workload(rig)
    try:
        yield router, writer, reader
    finally:
        writer.stop()
        reader.stop()
        router.close()


def _stop(writer: Writer, reader: Reader) -> None:
    time.sleep(0.5)
    writer.stop()
    reader.stop()
    assert not writer.is_alive() and not reader.is_alive()
    assert writer.failed == []
    assert reader.errors == []
    assert reader.violations == []
    assert reader.scans > 10 and len(writer.committed) > 100


def test_moving_a_quarter_of_the_buckets_loses_nothing_and_pauses_writes_briefly(rig: ShardRig) -> None:
    with _workload(rig) as (router, writer, reader):
        moved = _cli(rig, "move", "--buckets", "0-255", "--to", "2")
        assert moved.returncode == 0, moved.stderr
        assert "switched" in moved.stdout
        moved_key = next(f"user-{n}" for n in range(1000) if bucket_of(f"user-{n}", 1024) <= 255)
        assert router.route(moved_key).shard.id == 2
        finished = _cli(rig, "finish", "--buckets", "0-255", "--to", "2", "--grace-seconds", "1")
        assert finished.returncode == 0, finished.stderr
        _stop(writer, reader)
        _assert_exactly_once(rig, router, writer)
        assert all(router.live_map().owner(b) == 2 for b in range(256))
        pauses = writer.pauses(range(256))
        assert pauses, "the writer wrote to no moved bucket"
        assert max(pauses.values()) <= PAUSE_LIMIT_SECONDS, sorted(pauses.items(), key=lambda kv: -kv[1])[:5]
        # A stale writer is refused by the source's guard, with the error the router turns into BucketMovedError.
        with rig.connect(0) as conn, pytest.raises(psycopg.Error) as refused:
            conn.execute("insert into items (bucket, id, key, payload) values (5, -1, 'stale', 'x')")
        assert refused.value.sqlstate == SQLSTATE_NOT_HERE
        status = _cli(rig, "status", "--json")
        assert status.returncode == 0, status.stderr
        journal = {m["move_id"]: m for s in json.loads(status.stdout) for m in s["moves"]}
        move = journal["b0000_0255_s0_t2"]
        assert move["step"] == "finished" and 0 < move["pause_seconds"] <= PAUSE_LIMIT_SECONDS
        assert move["rows_copied"] > 0 and move["rows_deleted"] >= move["rows_copied"]


def test_a_mover_killed_mid_copy_and_mid_cut_over_resumes_to_the_same_result(rig: ShardRig) -> None:
    move = ("--buckets", "512-767", "--to", "2")
    with _workload(rig) as (router, writer, reader):
        _hang_and_kill(rig, "copying", *move)
        assert _journal_step(rig, 2, 512, 767) == "copying"
        _hang_and_kill(rig, "fenced", *move)
        assert _journal_step(rig, 2, 512, 767) == "fenced"
        time.sleep(0.5)  # writes to the fenced buckets wait (the router retries) while no mover runs
        verified = _cli(rig, "verify", *move)  # the fenced source and the caught-up target hold the same rows
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "identical" in verified.stdout
        resumed = _cli(rig, "move", *move)
        assert resumed.returncode == 0, resumed.stderr
        assert "switched" in resumed.stdout
        finished = _cli(rig, "finish", *move, "--grace-seconds", "1")
        assert finished.returncode == 0, finished.stderr
        _stop(writer, reader)
        _assert_exactly_once(rig, router, writer)
        assert all(router.live_map().owner(b) == 2 for b in range(512, 768))


def test_a_move_that_cannot_start_is_refused_before_anything_changes(rig: ShardRig) -> None:
    refused = _cli(rig, "plan", "--buckets", "300-310", "--to", "2", "--min-free-gb", "1000000")
    assert refused.returncode == 2
    assert "GiB free, the move needs" in refused.stderr
    with rig.connect(0) as conn:
        conn.execute("create table bad_sharded (bucket integer not null, id integer primary key)")
    try:
        refused = _cli(rig, "move", "--buckets", "300-310", "--to", "2")
        assert refused.returncode == 2
        assert "table public.bad_sharded: its primary key must include `bucket`" in refused.stderr
    finally:
        with rig.connect(0) as conn:
            conn.execute("drop table bad_sharded")
    assert _journal_step(rig, 2, 300, 310) == ""
    spans = _cli(rig, "plan", "--buckets", "500-520", "--to", "2")
    assert spans.returncode == 2 and "they live on shards [" in spans.stderr


def test_a_split_is_listed_as_the_moves_still_needed(rig: ShardRig) -> None:
    missing = _cli(rig, "split", "--shards", "4")
    assert missing.returncode == 2 and "shards [3] are not in the outputs" in missing.stderr
    listed = _cli(rig, "split", "--shards", "3", "--buckets-per-move", "64")
    assert listed.returncode == 0, listed.stderr
    commands = [line for line in listed.stdout.splitlines() if line.startswith("python -m scripts shards move")]
    assert commands and all("--buckets" in c and "--to" in c for c in commands)
    sizes = [
        int(c.split("--buckets ")[1].split()[0].split("-")[1]) - int(c.split("--buckets ")[1].split("-")[0]) + 1
        for c in commands
    ]
    assert max(sizes) <= 64
