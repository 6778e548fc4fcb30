"""`python -m scripts local up|status|down` on the dev stack, as a developer runs it (subprocesses of the CLI): one
up/health/down cycle for the module, with its state and outputs in a directory of its own (CRYB_LOCAL_DIR)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from scripts.local.outputs import validate
from scripts.local.state import State
from scripts.sandbox.node import PROJECT_DIR

pytestmark = pytest.mark.servers

WRITER = ("127.1.0.1", 5433)  # dev's shard 0 on this machine (scripts/local/supervisor.py)


@dataclass
class Platform:
    env: dict[str, str]
    directory: Path
    up: subprocess.CompletedProcess[str]
    state: State

    @property
    def outputs_path(self) -> Path:
        return self.directory / "outputs.local.json"

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.outputs_path.read_text())


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", *args], cwd=PROJECT_DIR, env={**env, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _env(directory: Path) -> dict[str, str]:
    return {**os.environ, "CRYB_LOCAL_DIR": str(directory), "CRYB_LOCAL_OUTPUTS": str(directory / "outputs.local.json")}


def _bound(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # SO_REUSEADDR: a listener still fails the bind, connections the supervisor closed (TIME_WAIT) do not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.startswith("crybsbx-")}


def test_a_port_in_use_fails_up_in_one_line_with_nothing_started(tmp_path: Path) -> None:
    env = _env(tmp_path)
    before = _namespaces()
    with socket.socket() as squatter:
        squatter.bind(WRITER)
        squatter.listen(1)
        result = cli(env, "local", "up", timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert message[0].startswith("error: local up failed: 127.1.0.1:5433 is in use"), result.stderr
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "outputs.local.json").exists()
    assert _namespaces() == before
    assert "already up" not in cli(env, "local", "status").stdout


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    directory = tmp_path_factory.mktemp("local")
    env = _env(directory)
    started = time.monotonic()
    try:
        up = cli(env, "local", "up")
        print(f"local up: {time.monotonic() - started:.1f} s")
        assert up.returncode == 0, up.stdout + up.stderr
        state = State.from_json((directory / "state.json").read_text())
        yield Platform(env={**env, **state.environment}, directory=directory, up=up, state=state)
    finally:
        cli(env, "local", "down", timeout=120)


def test_up_writes_outputs_that_validate_against_the_contract(platform: Platform) -> None:
    assert "up in" in platform.up.stdout
    outputs = platform.outputs()
    validate(outputs)
    shard = outputs["postgres"]["shards"][0]
    assert (shard["writerEndpoint"], shard["port"]) == WRITER
    assert len(outputs["cache"]["nodes"]) == 6
    assert {n.address for n in platform.state.nodes if n.kind == "cache"} == {
        n["address"] for n in outputs["cache"]["nodes"]
    }


def test_a_second_up_says_it_is_already_up(platform: Platform) -> None:
    again = cli(platform.env, "local", "up", timeout=60)
    assert again.returncode == 0 and "already up" in again.stdout


def test_status_shows_one_leader_and_every_node_healthy(platform: Platform) -> None:
    result = cli(platform.env, "local", "status", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    state = State.from_json((platform.directory / "state.json").read_text())
    postgres = [n for n in state.nodes if n.kind == "postgres"]
    assert sorted(n.role for n in postgres) == ["leader", "replica", "replica"]
    cache = [n for n in state.nodes if n.kind == "cache"]
    assert sorted(n.role for n in cache) == ["master"] * 3 + ["replica"] * 3
    assert all(n.healthy for n in state.nodes)


def test_health_with_the_outputs_file_exits_0(platform: Platform) -> None:
    result = cli(platform.env, "health", "--outputs", str(platform.outputs_path), "--sslmode", "require")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_a_client_with_only_the_outputs_file_writes_over_tls_and_reads_from_the_reader(platform: Platform) -> None:
    shard = platform.outputs()["postgres"]["shards"][0]
    secrets = boto3.client(
        "secretsmanager", region_name=shard["region"], endpoint_url=platform.env["AWS_ENDPOINT_URL"],
        verify=platform.env["AWS_CA_BUNDLE"], aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    admin = json.loads(secrets.get_secret_value(SecretId=shard["secretArn"])["SecretString"])
    params = {"port": shard["port"], "dbname": shard["databaseName"], "user": admin["username"]}
    with psycopg.connect(host=shard["writerEndpoint"], password=admin["password"], sslmode="require", **params) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        conn.execute("CREATE TABLE IF NOT EXISTS local_probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO local_probe VALUES (1, 'written from this machine') ON CONFLICT (id) DO NOTHING")
    (reader,) = shard["readerEndpoints"]
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(host=reader, password=admin["password"], sslmode="require", **params) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            exists = conn.execute("SELECT to_regclass('local_probe') IS NOT NULL").fetchone()
            row = conn.execute("SELECT note FROM local_probe WHERE id = 1").fetchone() if exists == (True,) else None
        if row == ("written from this machine",) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert row == ("written from this machine",)


def test_a_connected_client_survives_a_kill_9_of_the_shard_leader(platform: Platform) -> None:
    """The client reconnects to the writer endpoint of the outputs file and writes again within 60 s; no commit
    it saw acknowledged is lost."""
    shard = platform.outputs()["postgres"]["shards"][0]
    secrets = boto3.client(
        "secretsmanager", region_name=shard["region"], endpoint_url=platform.env["AWS_ENDPOINT_URL"],
        verify=platform.env["AWS_CA_BUNDLE"], aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    admin = json.loads(secrets.get_secret_value(SecretId=shard["secretArn"])["SecretString"])
    conninfo = {
        "host": shard["writerEndpoint"], "port": shard["port"], "dbname": shard["databaseName"],
        "user": admin["username"], "password": admin["password"], "sslmode": "require", "connect_timeout": 3,
    }  # fmt: skip
    with psycopg.connect(**conninfo) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS local_failover (id bigint PRIMARY KEY)")
    acknowledged: list[int] = []
    stop = threading.Event()

    def write() -> None:
        conn: psycopg.Connection | None = None
        next_id = 0
        while not stop.is_set():
            try:
                conn = conn or psycopg.connect(**conninfo, autocommit=True)
                next_id += 1
                conn.execute("INSERT INTO local_failover VALUES (%s)", (next_id,))
                acknowledged.append(next_id)
            except psycopg.Error:
                conn = None
                time.sleep(0.2)

    assert cli(platform.env, "local", "status", timeout=60).returncode == 0
    state = State.from_json((platform.directory / "state.json").read_text())
    leader = next(n for n in state.nodes if n.kind == "postgres" and n.cluster == shard["name"] and n.role == "leader")
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(acknowledged) >= 20
    pids = subprocess.run(["ip", "netns", "pids", leader.netns], capture_output=True, text=True, check=True).stdout
    killed_at = time.monotonic()
    for pid in pids.split():  # the node dies: etcd, Patroni, PostgreSQL, all at once
        subprocess.run(["kill", "-9", pid], check=False)
    before = len(acknowledged)
    while len(acknowledged) <= before + 10 and time.monotonic() - killed_at < 90:
        time.sleep(0.2)
    resumed = time.monotonic() - killed_at
    stop.set()
    writer.join(timeout=10)
    print(f"local failover: writes resumed {resumed:.1f} s after kill -9 of {leader.name}")
    assert len(acknowledged) > before + 10 and resumed <= 60, f"writes resumed after {resumed:.1f} s"
    with psycopg.connect(**conninfo) as conn:
        present = {row[0] for row in conn.execute("SELECT id FROM local_failover")}
    assert set(acknowledged) <= present


def test_down_leaves_no_process_port_namespace_or_directory(platform: Platform) -> None:
    state = platform.state
    workdirs = {Path(n.logs[0]).parents[1] for n in state.nodes if n.logs}
    assert state.namespaces and workdirs
    pids = set()
    for namespace in state.namespaces:
        listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=True)
        pids |= {int(p) for p in listed.stdout.split()}
    assert pids  # the nodes' processes (etcd, Patroni, PostgreSQL, the cache servers, IMDS stubs)
    result = cli(platform.env, "local", "down", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(state.pid, 0)
    assert not set(state.namespaces) & _namespaces()
    for listener in state.listeners:
        host, port = listener.rsplit(":", 1)
        assert not _bound(host, int(port)), f"{listener} still bound"
    assert not any(w.exists() for w in workdirs)
    assert not (platform.directory / "state.json").exists() and not platform.outputs_path.exists()
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []
    assert "not up" in cli(platform.env, "local", "status").stderr
