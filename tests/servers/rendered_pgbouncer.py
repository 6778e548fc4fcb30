"""The pgbouncer.ini that ships (components/kubernetes/pgbouncer_ini.py), rendered by the same function for Debian's
PgBouncer 1.18 and run for real in front of a PostgreSQL server with TLS.

What differs from the pod, and only through the renderer's parameters: the listen address (127.0.0.1: a shared
machine), the file paths (a work dir instead of the pod's mounts), the server host (the local server) and the
settings 1.18 does not know (`unsupported((1, 18))`: `max_prepared_statements`, 1.21). TLS is verified both ways
against a CA made for the run; the auth file is written by `userlist_line`, the same quoting External Secrets'
template produces from the secret.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from components.kubernetes.pgbouncer_ini import PgBouncerSettings, reloader_script, render, userlist_line
from components.kubernetes.pool_sizing import PoolSizes

from .moto_tls import TlsFiles, write_certificates
from .ports import LOOPBACK, free_port
from .postgres import PostgresFactory, PostgresServer
from .process import ManagedProcess, chown_tree, make_workdir, remove_workdir, service_user, wait_until

DEBIAN_PGBOUNCER = (1, 18)


@dataclass(frozen=True)
class RenderedPgBouncer:
    port: int
    ini: str
    ca_file: Path
    user: str
    password: str
    dbname: str
    log_path: Path
    auth_file: Path

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


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
        return True
    return False


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
    reloader_interval: int | None = None,
) -> Iterator[RenderedPgBouncer]:
    """Start PgBouncer with the rendered ini in front of `backend`; stop it and delete its work dir on exit.

    `reloader_interval`: also run the rendered reloader sidecar script, watching the same files as in the pod (here:
    the work dir's), in a PID namespace of their own with PgBouncer (the pod's shared process namespace): its
    `pkill` can reach only that PgBouncer, as in the pod, never another test's."""
    os_user = service_user("postgres")
    workdir = make_workdir("cryb-rendered-pgbouncer-", os_user)
    process: ManagedProcess | None = None
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
        chown_tree(workdir, os_user)
        log_path = workdir / "pgbouncer.log"
        if reloader_interval is None:
            argv = ["pgbouncer", str(config)]
            process = ManagedProcess("pgbouncer", argv, log_path=log_path, cwd=workdir, user=os_user)
        else:
            watched = [str(auth), str(tls.cert_file), str(tls.key_file), str(server_ca)]
            script = workdir / "reload.sh"
            script.write_text(reloader_script(watched, reloader_interval))
            chown_tree(workdir, os_user)
            as_user = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
            pod = f"pgbouncer {config} & exec sh {script}"
            argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *as_user, "sh", "-c", pod]
            process = ManagedProcess("pgbouncer+reloader", argv, log_path=log_path, cwd=workdir)
        wait_until(lambda: _accepts(port), what=f"pgbouncer on port {port}", timeout=15, process=process)
        bouncer = RenderedPgBouncer(port, ini, tls.ca_file, user, password, dbname, log_path, auth)
        with psycopg.connect(bouncer.conninfo(), prepare_threshold=None, autocommit=True) as conn:
            conn.execute("select 1")
        yield bouncer
    finally:
        if process is not None:
            process.stop()
        remove_workdir(workdir)
