"""The pgbouncer.ini that ships (components/kubernetes/pgbouncer_ini.py), rendered by the same function for Debian's
PgBouncer 1.18 and run for real in front of a PostgreSQL server with TLS.

What differs from the pod, and only through the renderer's parameters: the listen address (127.0.0.1: a shared
machine), the file paths (a work dir instead of the pod's mounts), the server host (the local server) and the
settings 1.18 does not know (`unsupported((1, 18))`: `max_prepared_statements`, 1.21). TLS is verified both ways
against a CA made for the run; the auth file is written by `userlist_line`, the same quoting External Secrets'
template produces from the secret.

As in the pod, `processes` PgBouncer processes (the shipped default: `DEFAULT_PROCESSES_PER_POD`) run the same file
and share its port (`so_reuseport = 1` in it; same uid), and the kernel spreads the connections over them.
`listening_pids` and `serving_pids` (from `ss -p`) tell which process holds which socket.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from components.kubernetes.pgbouncer_ini import PgBouncerSettings, reloader_script, render, userlist_line
from components.kubernetes.pool_sizing import DEFAULT_PROCESSES_PER_POD, PoolSizes
from scripts.servers.moto_tls import TlsFiles, write_certificates
from scripts.servers.ports import LOOPBACK, free_port
from scripts.servers.process import ManagedProcess, chown_tree, make_workdir, remove_workdir, service_user, wait_until

from .postgres import PostgresFactory, PostgresServer

DEBIAN_PGBOUNCER = (1, 18)


@dataclass(frozen=True)
class RenderedPgBouncer:
    port: int
    ini: str
    ca_file: Path
    user: str
    password: str
    dbname: str
    workdir: Path
    process_logs: tuple[Path, ...]
    """Each PgBouncer process's stderr (the container log in the pod)."""
    reloader_log: Path | None
    """The reloader sidecar's output, when it runs."""
    auth_file: Path

    @property
    def processes(self) -> int:
        return len(self.process_logs)

    def logs(self) -> str:
        """Every PgBouncer process's log."""
        return "".join(path.read_text(errors="replace") for path in self.process_logs)

    def conninfo(self, **overrides: object) -> str:
        params: dict[str, object] = {
            "host": LOOPBACK,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "sslmode": "verify-full",
            "sslrootcert": str(self.ca_file),
        }
        params.update(overrides)
        return " ".join(f"{k}='{v}'" for k, v in params.items())

    def url(self) -> str:
        return f"postgresql://{LOOPBACK}:{self.port}/{self.dbname}?sslmode=verify-full&sslrootcert={self.ca_file}"


def tls_postgres(
    factory: PostgresFactory, workdir: Path, **settings: str | int | bool
) -> tuple[PostgresServer, TlsFiles]:
    """A PostgreSQL server with TLS on (certificate for localhost/127.0.0.1 from a throw-away CA)."""
    user = service_user("postgres")
    (workdir / "pg-tls").mkdir(mode=0o700)
    tls = write_certificates(workdir / "pg-tls")
    chown_tree(workdir / "pg-tls", user)
    server = factory.create(
        settings={"ssl": True, "ssl_cert_file": str(tls.cert_file), "ssl_key_file": str(tls.key_file), **settings},
    )
    return server, tls


def _socket_pids(state: str, port: int) -> Counter[int]:
    """Sockets on local port `port` in `state` (ss's state filter) per owning process id."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", state, f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    return Counter(int(pid) for line in out.splitlines() for pid in re.findall(r"pid=(\d+)", line)[:1])


def listening_pids(port: int) -> set[int]:
    """The processes with a listening socket on `port` (one each with so_reuseport)."""
    return set(_socket_pids("listening", port))


def serving_pids(port: int) -> Counter[int]:
    """Established client connections on `port`, counted per PgBouncer process that holds them."""
    return _socket_pids("established", port)


@contextlib.contextmanager
def rendered_pgbouncer(
    backend: PostgresServer,
    server_ca: Path,
    *,
    user: str,
    password: str,
    dbname: str,
    pools: PoolSizes,
    version: tuple[int, int] = DEBIAN_PGBOUNCER,
    processes: int = DEFAULT_PROCESSES_PER_POD,
    reloader_interval: int | None = None,
) -> Iterator[RenderedPgBouncer]:
    """Start `processes` PgBouncer processes with the rendered ini, on one port, in front of `backend`; stop them and
    delete their work dir on exit. `pools` are each process's (`pool_sizes(..., processes_per_pod=processes)`).

    `reloader_interval`: also run the rendered reloader sidecar script, watching the same files as in the pod (here:
    the work dir's), in a PID namespace of their own with the PgBouncers (the pod's shared process namespace): its
    `pkill` can reach only those PgBouncers, as in the pod, never another test's."""
    if processes < 1:
        raise ValueError(f"processes = {processes}: at least 1")
    os_user = service_user("postgres")
    workdir = make_workdir("cryb-rendered-pgbouncer-", os_user)
    started: list[ManagedProcess] = []
    try:
        (workdir / "tls").mkdir(mode=0o700)
        tls = write_certificates(workdir / "tls")  # the pod's cert-manager certificate
        auth = workdir / "userlist.txt"
        auth.write_text(userlist_line(user, password))
        auth.chmod(0o600)
        port = free_port()
        settings = PgBouncerSettings(
            database=dbname,
            hosts=[LOOPBACK],
            port=backend.info.port,
            pools=pools,
            listen_addr=LOOPBACK,
            listen_port=port,
            auth_file=str(auth),
            server_ca_file=str(server_ca),
            client_tls_cert_file=str(tls.cert_file),
            client_tls_key_file=str(tls.key_file),
        )
        ini = render(settings, version=version)
        config = workdir / "pgbouncer.ini"
        config.write_text(ini)
        logs = tuple(workdir / f"pgbouncer-{i}.log" for i in range(processes))
        reloader_log: Path | None = None
        chown_tree(workdir, os_user)
        if reloader_interval is None:
            for i, log in enumerate(logs):
                argv = ["pgbouncer", str(config)]
                started.append(ManagedProcess(f"pgbouncer-{i}", argv, log_path=log, cwd=workdir, user=os_user))
        else:
            watched = [str(auth), str(tls.cert_file), str(tls.key_file), str(server_ca)]
            script = workdir / "reload.sh"
            script.write_text(reloader_script(watched, reloader_interval))
            for log in logs:
                log.touch()
            chown_tree(workdir, os_user)
            as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
            pod = "".join(f"pgbouncer {config} >{log} 2>&1 & " for log in logs) + f"exec sh {script}"
            argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *as_user, "sh", "-c", pod]
            reloader_log = workdir / "reloader.log"
            started.append(ManagedProcess("pgbouncers+reloader", argv, log_path=reloader_log, cwd=workdir))
        # every process has bound the port (one listening socket each), not only the first
        wait_until(
            lambda: len(listening_pids(port)) == processes and all(p.running() for p in started),
            what=f"{processes} pgbouncer processes on port {port}",
            timeout=15,
            process=started[0],
        )
        bouncer = RenderedPgBouncer(port, ini, tls.ca_file, user, password, dbname, workdir, logs, reloader_log, auth)
        with psycopg.connect(bouncer.conninfo(), prepare_threshold=None, autocommit=True) as conn:
            conn.execute("select 1")
        yield bouncer
    finally:
        for process in started:
            process.stop()
        remove_workdir(workdir)
