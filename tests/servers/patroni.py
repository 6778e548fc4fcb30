"""A real Patroni cluster on loopback for the failover drill (test and benchmark share it).

Three etcd members and three Patroni nodes (Debian's Patroni 3.0.2, PostgreSQL 15) run from the configuration
the component renders: ``components.selfhosted.patroni_config.node_inputs(...)`` is called exactly as the component
calls it, then only what cannot be the same on one machine is substituted:

* addresses, ports and paths (every node on 127.0.0.1 with its own free ports and work dir);
* memory sizes (three nodes share this machine, not an i4i each) and the DCS timing (short, for a fast drill
  within what Patroni 3.0.2 accepts);
* no TLS, no watchdog, no boot scripts (loopback has no certificates, /dev/watchdog or Secrets Manager);
* TimescaleDB is left out (not installable here), which is the node's own fallback too.

WAL archiving stays on, through pgBackRest into a posix repository rendered by ``pgbackrest_config``.
Passwords reach Patroni as on a node: in `secrets.yml` beside `patroni.yml` in the node's configuration directory,
rendered by the credentials agent (components/selfhosted/credentials_agent/agent.py), which rewrites it on rotation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from components.selfhosted.credentials_agent.agent import render_patroni_secrets
from components.selfhosted.patroni_config import (
    DcsTiming,
    NodeEndpoint,
    PatroniInputs,
    etcd_environment,
    node_inputs,
    render_patroni_yml,
)
from components.selfhosted.pgbackrest_config import (
    PgBackRestInputs,
    PosixRepo,
    render_cipher_include,
    render_pgbackrest_conf,
)
from scripts.servers.ports import LOOPBACK, free_ports
from scripts.servers.process import (
    ManagedProcess,
    chown_tree,
    make_workdir,
    remove_workdir,
    run_as,
    service_user,
    wait_until,
)

from .postgres import PG_BIN_DIR

SCOPE = "analytics"
DRILL_TIMING = DcsTiming(ttl=10, loop_wait=2, retry_timeout=4)  # 2 + 2*4 = 10 <= 10; Patroni 3.0.2 accepts it
DRILL_INSTANCE_TYPE = "i4i.large"  # the smallest node; its memory numbers are substituted anyway
# Three PostgreSQL servers share this machine: small memory, the tuned rest unchanged.
DRILL_MEMORY = {
    "shared_buffers": "16384",  # 128 MB in 8 kB pages
    "effective_cache_size": "65536",
    "max_connections": "50",
    "work_mem": "4096",
    "maintenance_work_mem": "65536",
    "autovacuum_work_mem": "65536",
    "max_wal_size": "1024",
}
START_TIMEOUT = 90.0


def loopback_inputs(production: PatroniInputs, index: int, ports: Sequence[int], workdir: Path) -> PatroniInputs:
    """The component's inputs for node `index` with only what loopback forces substituted (see module doc):
    addresses and ports (4 per node from `ports`), paths under `workdir`, memory sizes, TLS, watchdog, scripts."""
    endpoints = tuple(
        dataclasses.replace(
            node,
            host=LOOPBACK,
            pg_port=ports[4 * i],
            restapi_port=ports[4 * i + 1],
            etcd_client_port=ports[4 * i + 2],
            etcd_peer_port=ports[4 * i + 3],
        )
        for i, node in enumerate(production.nodes)
    )
    node_dir = workdir / endpoints[index].name
    return dataclasses.replace(
        production,
        nodes=endpoints,
        node_index=index,
        parameters={**production.parameters, **DRILL_MEMORY},
        data_dir=str(node_dir / "data"),
        bin_dir=str(PG_BIN_DIR),
        socket_dir=str(node_dir),
        pgpass=str(node_dir / "pgpass"),
        log_dir=str(node_dir / "log"),
        pgbackrest_config_path=str(node_dir / "pgbackrest"),
        tls=None,
        etcd_tls=None,  # plain etcd on loopback; TLS is proven on the booted rendered nodes (tests/real/sandbox)
        watchdog="off",
        post_bootstrap=None,
        on_role_change=None,
        patroni_log_dir=None,
    )


@dataclass
class DrillNode:
    """One Patroni node (and the etcd member beside it) on loopback."""

    endpoint: NodeEndpoint
    workdir: Path
    inputs: PatroniInputs
    patroni: ManagedProcess | None = None
    etcd: ManagedProcess | None = None
    killed: bool = False

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def config_dir(self) -> Path:
        """Patroni's configuration directory: patroni.yml and the credentials file secrets.yml."""
        return self.workdir / "patroni"

    @property
    def data_dir(self) -> Path:
        return Path(self.inputs.data_dir)

    def status(self, path: str) -> int | None:
        """HTTP status of a Patroni health endpoint; None when nothing answers (an NLB counts that unhealthy)."""
        url = f"http://{self.endpoint.host}:{self.endpoint.restapi_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


@dataclass
class WriterReport:
    acknowledged: list[int] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    connected_at: list[float] = field(default_factory=list)
    """When the connection that acknowledged each commit was opened (tells the new leader's writes apart)."""
    errors: int = 0


class AcknowledgedWriter(threading.Thread):
    """Commits numbered rows through a read-write multi-host connection and records each acknowledged commit.

    A commit whose outcome the client never heard (connection lost mid-commit) is not counted: zero loss
    means every *acknowledged* commit survives the failover.
    """

    def __init__(self, dsn: str):
        super().__init__(name="acknowledged-writer", daemon=True)
        self.dsn = dsn
        self.report = WriterReport()
        self._halt = threading.Event()
        self._next = 0

    def stop(self) -> WriterReport:
        self._halt.set()
        self.join(timeout=30)
        return self.report

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                    opened = time.monotonic()
                    while not self._halt.is_set():
                        self._next += 1
                        conn.execute("insert into drill_commits (n) values (%s)", (self._next,))
                        conn.commit()
                        self.report.acknowledged.append(self._next)
                        self.report.ack_times.append(time.monotonic())
                        self.report.connected_at.append(opened)
            except psycopg.Error:
                self.report.errors += 1
                time.sleep(0.05)


class PatroniDrillCluster:
    """etcd x3 + Patroni x3 on loopback; ``close()`` leaves nothing running."""

    def __init__(
        self,
        *,
        timing: DcsTiming = DRILL_TIMING,
        synchronous_mode: bool = True,
        synchronous_mode_strict: bool = True,
        node_count: int = 3,
    ) -> None:
        self.timing = timing
        self.os_user = service_user("postgres")
        self.etcd_user = service_user("etcd")
        self.workdir = make_workdir("cryb-patroni-", self.os_user)
        self.etcd_workdir = make_workdir("cryb-etcd-", self.etcd_user)  # etcd cannot enter postgres's 0700 dir
        self.repo = self.workdir / "repo"
        self.passwords = {
            key: secrets.token_hex(16)
            for key in ("superuser", "replication", "rewind", "restapi", "admin", "pgbackrest")
        }
        ports = free_ports(4 * node_count)  # all held at once: no two listeners can get the same port
        hosts = [LOOPBACK] * node_count
        self.nodes: list[DrillNode] = []
        for i in range(node_count):
            production = node_inputs(
                scope=SCOPE,
                hosts=hosts,
                node_index=i,
                instance_type=DRILL_INSTANCE_TYPE,
                postgres_major="15",
                synchronous_mode=synchronous_mode,
                synchronous_mode_strict=synchronous_mode_strict,
                timing=timing,
                timescaledb=False,
                client_cidrs=[f"{LOOPBACK}/32"],
            )
            self.nodes.append(self._substitute(production, i, ports))
        self._pgids: set[int] = set()

    def _substitute(self, production: PatroniInputs, index: int, ports: list[int]) -> DrillNode:
        inputs = loopback_inputs(production, index, ports, self.workdir)
        return DrillNode(inputs.node, Path(inputs.data_dir).parent, inputs)

    def _write_node_files(self, node: DrillNode) -> Path:
        node.workdir.mkdir(mode=0o700)
        (node.workdir / "log").mkdir()
        config_dir = Path(node.inputs.pgbackrest_config_path or "")
        (config_dir / "conf.d").mkdir(parents=True)
        (config_dir / "pgbackrest.conf").write_text(
            render_pgbackrest_conf(
                PgBackRestInputs(
                    stanza=node.inputs.stanza,
                    repo=PosixRepo(str(self.repo)),
                    pg_data_dir=node.inputs.data_dir,
                    pg_port=node.endpoint.pg_port,
                    pg_socket_dir=node.inputs.socket_dir,
                    spool_path=str(node.workdir / "spool"),
                    log_path=str(node.workdir / "log"),
                    lock_path=str(node.workdir / "lock"),
                    process_max=1,
                )
            )
        )
        (config_dir / "conf.d" / "cipher.conf").write_text(render_cipher_include(self.passwords["pgbackrest"]))
        config_dir = node.config_dir
        config_dir.mkdir()
        (config_dir / "patroni.yml").write_text(render_patroni_yml(node.inputs))
        (config_dir / "secrets.yml").write_text(render_patroni_secrets(self.passwords))
        chown_tree(node.workdir, self.os_user)
        return config_dir

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """etcd members, then Patroni nodes; returns once there is a leader, a sync standby and streaming replicas."""
        self.repo.mkdir(mode=0o750)
        chown_tree(self.repo, self.os_user)
        endpoints = [n.endpoint for n in self.nodes]
        for i, node in enumerate(self.nodes):
            etcd_dir = self.etcd_workdir / node.name
            etcd_dir.mkdir(mode=0o700)
            chown_tree(etcd_dir, self.etcd_user)
            env = etcd_environment(
                endpoints, i, data_dir=str(etcd_dir / "data"), cluster_token=f"drill-{self.workdir.name}"
            )
            node.etcd = ManagedProcess(
                f"etcd[{node.name}]",
                ["etcd"],
                log_path=etcd_dir / "etcd.log",
                cwd=etcd_dir,
                user=self.etcd_user,
                env=env,
            )
        for node in self.nodes:
            assert node.etcd is not None
            wait_until(lambda n=node: self._etcd_healthy(n), what=f"etcd {node.name}", timeout=30, process=node.etcd)
        for node in self.nodes:
            config = self._write_node_files(node)
            node.patroni = ManagedProcess(
                f"patroni[{node.name}]",
                ["patroni", config],
                log_path=node.workdir / "patroni.log",
                cwd=node.workdir,
                user=self.os_user,
            )
        wait_until(lambda: self.leader() is not None, what="a Patroni leader", timeout=timeout)
        wait_until(self._replicated, what="a sync standby and streaming replicas", timeout=timeout)
        self._remember_postmasters()

    def _etcd_healthy(self, node: DrillNode) -> bool:
        url = f"http://{LOOPBACK}:{node.endpoint.etcd_client_port}/health"
        with urllib.request.urlopen(url, timeout=1) as response:
            return json.loads(response.read()).get("health") == "true"

    def _replicated(self) -> bool:
        alive = [n for n in self.nodes if not n.killed]
        replicas = [n for n in alive if n.status("/replica") == 200]
        return len(replicas) == len(alive) - 1 and any(n.status("/sync") == 200 for n in alive)

    def _remember_postmasters(self) -> None:
        for node in self.nodes:
            pid = node.postmaster_pid()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    self._pgids.add(os.getpgid(pid))
            for process in (node.patroni, node.etcd):
                if process is not None:
                    self._pgids.add(process.pid)  # ManagedProcess leads its own process group

    def leader(self) -> DrillNode | None:
        """The node whose /primary answers 200 (what the writer NLB would route to)."""
        leaders = [n for n in self.nodes if not n.killed and n.status("/primary") == 200]
        return leaders[0] if len(leaders) == 1 else None

    def kill(self, node: DrillNode) -> float:
        """kill -9 the node's PostgreSQL (its whole process group) and its Patroni; returns the monotonic time."""
        pid = node.postmaster_pid()
        pgid = os.getpgid(pid) if pid else None
        if pgid is not None:
            os.killpg(pgid, signal.SIGKILL)
        killed_at = time.monotonic()
        if node.patroni is not None:
            node.patroni.kill()
        node.killed = True
        return killed_at

    def superuser_dsn(self, node: DrillNode) -> str:
        return make_conninfo(
            host=LOOPBACK,
            port=node.endpoint.pg_port,
            user="postgres",
            password=self.passwords["superuser"],
            dbname="postgres",
        )

    def writer_dsn(self) -> str:
        """Every node, read-write only: libpq finds the leader as an application behind the writer NLB would."""
        return make_conninfo(
            host=",".join(LOOPBACK for _ in self.nodes),
            port=",".join(str(n.endpoint.pg_port) for n in self.nodes),
            user="postgres",
            password=self.passwords["superuser"],
            dbname="postgres",
            target_session_attrs="read-write",
            connect_timeout=2,
        )

    def pgbackrest(self, node: DrillNode, *args: str) -> str:
        result = run_as(
            self.os_user,
            [
                "pgbackrest",
                f"--config-path={node.inputs.pgbackrest_config_path}",
                f"--stanza={node.inputs.stanza}",
                *args,
            ],
            cwd=node.workdir,
            timeout=60,
        )
        return result.stdout

    def close(self) -> None:
        """Stop Patroni (it stops PostgreSQL), then etcd; kill any straggler; delete the work dir."""
        self._remember_postmasters()
        for node in self.nodes:
            if node.patroni is not None:
                node.patroni.stop(timeout=20)
        for pgid in self._pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for node in self.nodes:
            if node.etcd is not None:
                node.etcd.stop(timeout=10)
        _wait_gone(self.leftover_pids(), 10)
        remove_workdir(self.workdir)
        remove_workdir(self.etcd_workdir)

    def leftover_pids(self) -> list[int]:
        """Processes of this cluster still alive: in a PostgreSQL process group we saw, or naming our work dir."""
        marker = str(self.workdir).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                cmdline = (entry / "cmdline").read_bytes()
                pgid = os.getpgid(pid)
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, ProcessLookupError, IndexError):
                continue
            if state != "Z" and (pgid in self._pgids or marker in cmdline):
                found.append(pid)
        return found


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if Path(f"/proc/{p}").exists()]
        time.sleep(0.05)


@dataclass(frozen=True)
class DrillResult:
    """What one failover drill measured."""

    old_leader: str
    new_leader: str
    seconds_to_new_leader: float
    seconds_to_first_write: float
    acknowledged_before_kill: int
    acknowledged_total: int
    lost: list[int]
    writer_errors: int
    health_after: dict[str, dict[str, int | None]]


def run_failover_drill(
    cluster: PatroniDrillCluster, *, warmup_seconds: float = 2.0, timeout: float = 60.0
) -> DrillResult:
    """Write continuously, kill -9 the leader's PostgreSQL and Patroni, wait for a new leader that accepts writes,
    then compare every acknowledged commit with what the new leader has."""
    old = cluster.leader()
    if old is None:
        raise RuntimeError("no leader to kill")
    with psycopg.connect(cluster.superuser_dsn(old), autocommit=True) as conn:
        conn.execute("create table if not exists drill_commits (n bigint primary key, at timestamptz default now())")
    writer = AcknowledgedWriter(cluster.writer_dsn())
    writer.start()
    try:
        wait_until(lambda: len(writer.report.acknowledged) > 20, what="the writer's first commits", timeout=30)
        time.sleep(warmup_seconds)
        before = len(writer.report.acknowledged)
        killed_at = cluster.kill(old)
        wait_until(lambda: cluster.leader() is not None, what="a new leader", timeout=timeout, interval=0.05)
        new_leader_at = time.monotonic()
        new = cluster.leader()
        assert new is not None
        wait_until(
            lambda: any(c > killed_at for c in writer.report.connected_at[-5:]),
            what="a write acknowledged by the new leader",
            timeout=timeout,
        )
        time.sleep(1.0)
    finally:
        report = writer.stop()
    # The first commit acknowledged on a connection opened after the kill: the new leader's, not a straggler's.
    first_write = next(t for t, c in zip(report.ack_times, report.connected_at, strict=True) if c > killed_at)
    with psycopg.connect(cluster.superuser_dsn(new), autocommit=True) as conn:
        present = {row[0] for row in conn.execute("select n from drill_commits")}
    lost = sorted(set(report.acknowledged) - present)
    health = {n.name: {p: n.status(p) for p in ("/primary", "/replica")} for n in cluster.nodes}
    return DrillResult(
        old_leader=old.name,
        new_leader=new.name,
        seconds_to_new_leader=new_leader_at - killed_at,
        seconds_to_first_write=first_write - killed_at,
        acknowledged_before_kill=before,
        acknowledged_total=len(report.acknowledged),
        lost=lost,
        writer_errors=report.errors,
        health_after=health,
    )


@contextlib.contextmanager
def drill_cluster(
    *, timing: DcsTiming = DRILL_TIMING, synchronous_mode_strict: bool = True
) -> Iterator[PatroniDrillCluster]:
    """A started cluster that is torn down whatever happens."""
    cluster = PatroniDrillCluster(timing=timing, synchronous_mode_strict=synchronous_mode_strict)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
