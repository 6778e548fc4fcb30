"""What the local platform's real tests share: `python -m scripts local ...` run as a developer runs it (subprocesses
of the CLI), one platform per test module with its state and outputs in a directory of its own (CRYB_LOCAL_DIR), a
client that uses only outputs.local.json and the local moto, a kill -9 of a cluster's leader under that client, and
the checks that `local down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from psycopg import sql

from scripts.local.state import NodeState, State
from scripts.sandbox.node import PROJECT_DIR


@dataclass
class Platform:
    env: dict[str, str]
    directory: Path
    up: subprocess.CompletedProcess[str]
    state: State
    up_seconds: float

    @property
    def outputs_path(self) -> Path:
        return self.directory / "outputs.local.json"

    def outputs(self) -> dict[str, Any]:
        return json.loads(self.outputs_path.read_text())

    def current_state(self) -> State:
        return State.from_json((self.directory / "state.json").read_text())

    def secret(self, arn: str, region: str) -> dict[str, str]:
        """A secret of the outputs file, read from the local moto as an application reads it."""
        secrets = boto3.client(
            "secretsmanager", region_name=region, endpoint_url=self.env["AWS_ENDPOINT_URL"],
            verify=self.env["AWS_CA_BUNDLE"], aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        return json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])

    def conninfo(self, entry: Mapping[str, Any], host: str | None = None) -> dict[str, Any]:
        """psycopg keywords for an outputs entry (`postgres.shards[]`, `selfhosted.clusters[]`): its writer (or
        `host`), its port and database, the admin secret it names, TLS."""
        admin = self.secret(entry["secretArn"], entry["region"])
        return {
            "host": host or entry["writerEndpoint"], "port": entry["port"], "dbname": entry["databaseName"],
            "user": admin["username"], "password": admin["password"], "sslmode": "require", "connect_timeout": 3,
        }  # fmt: skip


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", *args], cwd=PROJECT_DIR, env={**env, "COLUMNS": "200"},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def local_env(directory: Path) -> dict[str, str]:
    return {**os.environ, "CRYB_LOCAL_DIR": str(directory), "CRYB_LOCAL_OUTPUTS": str(directory / "outputs.local.json")}


def sandbox_namespaces() -> set[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.startswith("crybsbx-")}


def bound(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # SO_REUSEADDR: a listener still fails the bind, connections the supervisor closed (TIME_WAIT) do not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@contextmanager
def running_platform(directory: Path, *up_args: str) -> Iterator[Platform]:
    """`local up [up_args]` in `directory`; `local down` afterwards, whatever happened."""
    env = local_env(directory)
    started = time.monotonic()
    try:
        up = cli(env, "local", "up", *up_args, timeout=540)  # up gives up at 480 s (scripts/local/command.py)
        took = time.monotonic() - started
        load = os.getloadavg()
        print(f"local up {' '.join(up_args)}: {took:.1f} s (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
        assert up.returncode == 0, up.stdout + up.stderr
        state = State.from_json((directory / "state.json").read_text())
        yield Platform(env={**env, **state.environment}, directory=directory, up=up, state=state, up_seconds=took)
    finally:
        cli(env, "local", "down", timeout=120)


@dataclass
class Failover:
    leader: NodeState
    resumed_seconds: float
    acknowledged: list[int]
    present: set[int]


def kill_leader_under_a_writer(platform: Platform, entry: Mapping[str, Any], cluster: str, table: str) -> Failover:
    """A client that knows only `entry` of the outputs file (and the local moto) inserts rows through the writer
    endpoint, reconnecting on any error; every process of `cluster`'s leader node (etcd, Patroni, PostgreSQL) gets
    kill -9 at once; the client writes on until 10 more commits are acknowledged or 90 s have passed."""
    conninfo = platform.conninfo(entry)
    with psycopg.connect(**conninfo) as conn:
        conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigint PRIMARY KEY)").format(sql.Identifier(table)))
    insert = sql.SQL("INSERT INTO {} VALUES (%s)").format(sql.Identifier(table))
    acknowledged: list[int] = []
    stop = threading.Event()

    def write() -> None:
        conn: psycopg.Connection | None = None
        next_id = 0
        while not stop.is_set():
            try:
                conn = conn or psycopg.connect(**conninfo, autocommit=True)
                next_id += 1
                conn.execute(insert, (next_id,))
                acknowledged.append(next_id)
            except psycopg.Error:
                conn = None
                time.sleep(0.2)

    assert cli(platform.env, "local", "status", timeout=60).returncode == 0
    state = platform.current_state()
    leader = next(n for n in state.nodes if n.kind == "postgres" and n.cluster == cluster and n.role == "leader")
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
    assert len(acknowledged) > before + 10, f"no writes within {resumed:.1f} s of the kill\n" + _journals(
        platform.current_state(), cluster
    )
    with psycopg.connect(**conninfo) as conn:
        present = {row[0] for row in conn.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(table)))}
    return Failover(leader, resumed, acknowledged, present)


def _journals(state: State, cluster: str, lines: int = 15) -> str:
    """The last lines of each unit journal of the cluster's nodes (what a failed failover is diagnosed from)."""
    found = [f"roles: {[(n.name, n.role, n.healthy) for n in state.nodes if n.cluster == cluster]}"]
    for node in (n for n in state.nodes if n.cluster == cluster and len(n.logs) > 1):
        for journal in sorted(Path(node.logs[1]).glob("*.log")):
            if "patroni" in journal.name or "etcd" in journal.name:
                tail = journal.read_text(errors="replace").splitlines()[-lines:]
                found.append(f"--- {node.name} {journal.name}\n" + "\n".join(tail))
    return "\n".join(found)


def assert_down_leaves_nothing(platform: Platform) -> None:
    """`local down` exits 0 and leaves no supervisor, node process, namespace, listener, work directory, state or
    outputs file."""
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
    assert not set(state.namespaces) & sandbox_namespaces()
    for listener in state.listeners:
        host, port = listener.rsplit(":", 1)
        assert not bound(host, int(port)), f"{listener} still bound"
    assert not any(w.exists() for w in workdirs)
    assert not (platform.directory / "state.json").exists() and not platform.outputs_path.exists()
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []
    assert "not up" in cli(platform.env, "local", "status").stderr
