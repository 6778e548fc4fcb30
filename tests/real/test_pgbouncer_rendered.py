"""The shipped pgbouncer.ini (components/kubernetes/pgbouncer_ini.py) run for real: Debian's PgBouncer 1.18 in front
of PostgreSQL 15 with TLS, the file rendered by the same function with the settings 1.18 lacks left out. TLS is
verified both ways, the auth file comes from the secret's username and password, transaction pooling holds 2,000
client connections open on server pools sized by `pool_sizes`, and the server never sees more than their caps. As in
the pod, the shipped number of PgBouncer processes (`DEFAULT_PROCESSES_PER_POD`) share the port (`so_reuseport`):
the connections land on every process, one process killed leaves the port served, and the reloader reaches them all."""

import os
import re
import resource
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from components.kubernetes.pgbouncer_ini import PgBouncerSettings, render, settings_lines, unsupported, userlist_line
from components.kubernetes.pool_sizing import DEFAULT_PROCESSES_PER_POD, pool_sizes
from scripts.servers.process import make_workdir, remove_workdir, service_user, wait_until
from tests.servers.postgres import PostgresFactory, PostgresServer
from tests.servers.rendered_pgbouncer import (
    DEBIAN_PGBOUNCER,
    RenderedPgBouncer,
    listening_pids,
    rendered_pgbouncer,
    serving_pids,
    tls_postgres,
)

pytestmark = pytest.mark.servers
APP_USER, APP_PASSWORD = "app", 'pa"ss word-1'  # a quote and a space: the auth file's quoting is exercised
SERVER_MAX_CONNECTIONS = 120
HELD_CLIENTS = 2000
PROCESSES = DEFAULT_PROCESSES_PER_POD  # what the pod runs per pool unless configured otherwise
POOLS = pool_sizes(
    max_connections=SERVER_MAX_CONNECTIONS, reserved_connections=10, max_replicas=4, processes_per_pod=PROCESSES
)


def test_the_shipped_default_is_several_processes() -> None:
    assert PROCESSES >= 2  # else the tests below would not exercise the port sharing


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[PostgresServer, Path]]:
    workdir = make_workdir("cryb-pg-tls-", service_user("postgres"))
    factory = PostgresFactory()
    try:
        server, tls = tls_postgres(factory, workdir, max_connections=SERVER_MAX_CONNECTIONS)
        server.execute(
            sql.SQL("create role {} login password {}").format(sql.Identifier(APP_USER), sql.Literal(APP_PASSWORD))
        )
        server.execute(f"create database cryb owner {APP_USER}")
        yield server, tls.ca_file
    finally:
        factory.close()
        remove_workdir(workdir)


@pytest.fixture(scope="module")
def bouncer(backend: tuple[PostgresServer, Path]) -> Iterator[RenderedPgBouncer]:
    server, ca = backend
    with rendered_pgbouncer(server, ca, user=APP_USER, password=APP_PASSWORD, dbname="cryb", pools=POOLS) as b:
        yield b


def test_pgbouncer_1_18_lacks_only_max_prepared_statements() -> None:
    assert unsupported(DEBIAN_PGBOUNCER) == ["max_prepared_statements"]
    assert unsupported((1, 21)) == [] and unsupported((1, 24)) == []
    settings = PgBouncerSettings(database="cryb", hosts=["h"], port=5433, pools=POOLS)

    def keys(ini: str) -> set[str]:
        return {line.split(" = ")[0] for line in ini.splitlines() if " = " in line}

    shipped, variant = keys(render(settings)), keys(render(settings, version=DEBIAN_PGBOUNCER))
    assert shipped - variant == {"max_prepared_statements"}
    assert variant == {key for key, _ in settings_lines(settings)} - {"max_prepared_statements"} | {"cryb"}


def test_the_variant_is_accepted_by_pgbouncer_without_warnings(bouncer: RenderedPgBouncer) -> None:
    assert bouncer.processes == PROCESSES and len(listening_pids(bouncer.port)) == PROCESSES
    log = bouncer.logs()
    assert "unknown parameter" not in log.lower() and "WARNING" not in log, log[-2000:]
    assert "transaction" in bouncer.ini and "server_tls_sslmode = verify-full" in bouncer.ini
    assert "\nso_reuseport = 1\n" in bouncer.ini


def test_clients_need_tls_and_the_secret_password(bouncer: RenderedPgBouncer) -> None:
    with psycopg.connect(bouncer.conninfo(), prepare_threshold=None, autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use
        # the server side of this pooled connection is TLS too, verified against the server's CA (verify-full)
        assert conn.execute("select ssl from pg_stat_ssl where pid = pg_backend_pid()").fetchone() == (True,)
        assert conn.execute("select current_user").fetchone() == (APP_USER,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(bouncer.conninfo(sslmode="disable"), connect_timeout=5).close()  # client TLS required
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(bouncer.conninfo(password="wrong"), connect_timeout=5).close()


def test_transaction_pooling_keeps_transactions_whole(bouncer: RenderedPgBouncer) -> None:
    with psycopg.connect(bouncer.conninfo(), prepare_threshold=None) as conn:
        conn.execute("create table if not exists pooled (id int primary key)")
        with conn.transaction():
            conn.execute("insert into pooled values (1)")
            pid = conn.execute("select pg_backend_pid()").fetchone()
            assert conn.execute("select pg_backend_pid()").fetchone() == pid  # one server for the transaction
        assert conn.execute("select count(*) from pooled").fetchone() == (1,)


def test_2000_clients_held_open_on_a_server_pool_within_its_cap(
    bouncer: RenderedPgBouncer, backend: tuple[PostgresServer, Path]
) -> None:
    server, _ = backend
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= HELD_CLIENTS + 100, f"ulimit -n is {soft}: 2,000 clients need more file descriptors"
    server.execute("create table if not exists held (n int)")
    script = bouncer.workdir / "hold.sql"
    # pgbench's one thread connects every client first, then each waits 2 s on the client side (holding its
    # connection) before its one transaction: all 2,000 are open at once, and the pool serves them in turn.
    script.write_text("\\sleep 2 s\nselect pg_sleep(0.01);\n")
    env = {**os.environ, "PGPASSWORD": APP_PASSWORD, "PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(bouncer.ca_file)}
    pgbench = subprocess.Popen(
        [
            str(server.info.bin_dir / "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(bouncer.port), "-U", APP_USER,
            "-c", str(HELD_CLIENTS), "-j", "1", "-t", "1", "-f", str(script), "cryb",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    peak_clients, peak_servers = 0, 0
    spread: Counter[int] = Counter()
    stop = threading.Event()

    def watch_servers() -> None:
        nonlocal peak_servers
        with psycopg.connect(server.info.dsn_for(dbname="postgres"), autocommit=True) as conn:
            while not stop.is_set():
                n = conn.execute("select count(*) from pg_stat_activity where usename = %s", (APP_USER,)).fetchone()
                peak_servers = max(peak_servers, n[0] if n else 0)
                time.sleep(0.2)

    watcher = threading.Thread(target=watch_servers)
    watcher.start()
    try:
        while pgbench.poll() is None:
            held = serving_pids(bouncer.port)
            if held.total() > peak_clients:
                peak_clients, spread = held.total(), held
            time.sleep(0.3)
    finally:
        stop.set()
        watcher.join()
    output = pgbench.stdout.read() if pgbench.stdout else ""
    assert pgbench.returncode == 0, output[-3000:]
    assert re.search(rf"number of clients: {HELD_CLIENTS}\b", output)
    assert re.search(rf"number of transactions actually processed: {HELD_CLIENTS}/{HELD_CLIENTS}\b", output), output
    assert peak_clients >= HELD_CLIENTS, (peak_clients, output)
    # the kernel spread the clients over every process (hashing the connections: about evenly)
    assert set(spread) == listening_pids(bouncer.port) and len(spread) == PROCESSES, spread
    assert min(spread.values()) >= HELD_CLIENTS / PROCESSES / 2, spread
    # each process's pool stays within its cap, so all of them within the processes' share of the budget
    assert 0 < peak_servers <= PROCESSES * POOLS.max_db_connections, (peak_servers, POOLS)


def _connect(bouncer: RenderedPgBouncer, **overrides: object) -> psycopg.Connection:
    return psycopg.connect(bouncer.conninfo(**overrides), prepare_threshold=None, autocommit=True, connect_timeout=5)


def _answers(conn: psycopg.Connection) -> bool:
    try:
        return conn.execute("select 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_one_process_killed_leaves_the_port_served_by_the_others(backend: tuple[PostgresServer, Path]) -> None:
    """The pod's case of a PgBouncer container dying: its clients lose their connections, the other processes keep
    theirs, and new connections go to the processes still listening (the kubelet restarts the container)."""
    server, ca = backend
    with rendered_pgbouncer(server, ca, user=APP_USER, password=APP_PASSWORD, dbname="cryb", pools=POOLS) as bouncer:
        held = [_connect(bouncer) for _ in range(32)]
        try:
            assert all(_answers(conn) for conn in held)
            before = serving_pids(bouncer.port)
            assert len(before) == PROCESSES and before.total() == len(held), before  # more than one process serves
            victim = min(before)
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: victim not in listening_pids(bouncer.port), what="the killed process gone", timeout=10)
            survivors = listening_pids(bouncer.port)
            assert len(survivors) == PROCESSES - 1 and victim not in survivors
            answered = sum(_answers(conn) for conn in held)
            assert answered == len(held) - before[victim], (answered, before)  # exactly the victim's clients lost
            fresh = [_connect(bouncer) for _ in range(16)]
            try:
                assert all(_answers(conn) for conn in fresh)
                assert set(serving_pids(bouncer.port)) <= survivors
            finally:
                for conn in fresh:
                    conn.close()
        finally:
            for conn in held:
                conn.close()


def test_the_reloader_applies_a_rotated_password_without_a_restart(backend: tuple[PostgresServer, Path]) -> None:
    """The pod's reloader sidecar (rendered script) with PgBouncer in one PID namespace: the secret rotates (the
    server's password changes, External Secrets rewrites the auth file), and PgBouncer takes it without a restart."""
    server, ca = backend
    rotated = 'rotated "pw" 2'
    with rendered_pgbouncer(
        server, ca, user=APP_USER, password=APP_PASSWORD, dbname="cryb", pools=POOLS, reloader_interval=1
    ) as bouncer:
        assert bouncer.reloader_log is not None
        with _connect(bouncer) as conn:
            assert _answers(conn)
        try:
            server.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(APP_USER), sql.Literal(rotated)))
            bouncer.auth_file.write_text(userlist_line(APP_USER, rotated))  # what the ExternalSecret's sync does

            def new_password_works() -> bool:
                try:
                    with _connect(bouncer, password=rotated, connect_timeout=3):
                        return True
                except psycopg.OperationalError:
                    return False

            wait_until(new_password_works, what="PgBouncer accepting the rotated password", timeout=20)
            # every process took it: 16 connections at once, spread by the kernel over all of them, all accepted
            rotated_conns = [_connect(bouncer, password=rotated) for _ in range(16)]
            try:
                assert all(_answers(conn) for conn in rotated_conns)
                assert set(serving_pids(bouncer.port)) == listening_pids(bouncer.port), serving_pids(bouncer.port)
                assert len(listening_pids(bouncer.port)) == PROCESSES
            finally:
                for conn in rotated_conns:
                    conn.close()
            for _ in range(16):  # and none still takes the old one (a process not reloaded would)
                with pytest.raises(psycopg.OperationalError):
                    _connect(bouncer, connect_timeout=3).close()
            assert "reloader: files changed, PgBouncer reloaded" in bouncer.reloader_log.read_text()
            for log in bouncer.process_logs:  # each process logged the SIGHUP it got
                assert "SIGHUP" in log.read_text(), log.read_text()[-2000:]
        finally:
            server.execute(
                sql.SQL("alter role {} password {}").format(sql.Identifier(APP_USER), sql.Literal(APP_PASSWORD))
            )
