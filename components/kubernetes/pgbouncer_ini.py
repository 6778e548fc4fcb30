"""pgbouncer.ini of one PgBouncer process (a shard's writer or reader pool), rendered from its settings.

Transaction pooling with protocol-level prepared statements (`max_prepared_statements`, PgBouncer >= 1.21) so that
psycopg's automatic prepared statements work; TLS on both sides (`verify-full` to the server against its CA);
clients authenticate against the shard's secret, mounted as `auth_file` (the secret never enters the ini).
`so_reuseport = 1`: several PgBouncer processes of one pod listen on the same port and the kernel spreads the
connections over them (PgBouncer is single-threaded); no pidfile, unix socket or log file, so the processes need no
other setting of their own.
`render(..., version=...)` drops the settings an older PgBouncer lacks and says which: the real-server test runs
Debian's 1.18 with the same function.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from .pool_sizing import PoolSizes

LISTEN_PORT = 6432
AUTH_FILE = "/etc/pgbouncer/auth/userlist.txt"
SERVER_CA_FILE = "/etc/pgbouncer/server-ca/ca.pem"
CLIENT_TLS_DIR = "/etc/pgbouncer/tls"

# Settings and the first PgBouncer release that knows them (https://www.pgbouncer.org/changelog.html).
MIN_VERSION: dict[str, tuple[int, int]] = {
    "so_reuseport": (1, 12),
    "max_prepared_statements": (1, 21),
}
SHIPPED_VERSION = (1, 24)


@dataclass(frozen=True)
class PgBouncerSettings:
    """Everything one pgbouncer.ini says. Paths default to the Deployment's mounts."""

    database: str
    """The database name clients ask for, and the server's database."""
    hosts: Sequence[str]
    """Server host(s); several are used round-robin (readers)."""
    port: int
    """Server port."""
    pools: PoolSizes
    max_prepared_statements: int = 200
    listen_addr: str = "0.0.0.0"  # every interface of the pod (tests on a shared machine pass 127.0.0.1)
    listen_port: int = LISTEN_PORT
    auth_file: str = AUTH_FILE
    server_ca_file: str = SERVER_CA_FILE
    client_tls_cert_file: str = f"{CLIENT_TLS_DIR}/tls.crt"
    client_tls_key_file: str = f"{CLIENT_TLS_DIR}/tls.key"
    server_sslmode: str = "verify-full"
    client_sslmode: str = "require"


def settings_lines(s: PgBouncerSettings) -> list[tuple[str, str]]:
    """The [pgbouncer] section as (key, value) pairs, in file order."""
    p = s.pools
    return [
        ("listen_addr", s.listen_addr),
        ("listen_port", str(s.listen_port)),
        ("so_reuseport", "1"),  # the pod's other PgBouncer processes of this pool listen on the same port
        ("unix_socket_dir", ""),  # read-only root filesystem, and nothing local connects
        ("pidfile", ""),
        ("logfile", ""),  # stderr: the container log
        ("auth_type", "scram-sha-256"),
        ("auth_file", s.auth_file),
        ("pool_mode", "transaction"),
        ("max_prepared_statements", str(s.max_prepared_statements)),
        ("default_pool_size", str(p.default_pool_size)),
        ("reserve_pool_size", str(p.reserve_pool_size)),
        ("reserve_pool_timeout", "3"),
        ("max_db_connections", str(p.max_db_connections)),
        ("max_client_conn", str(p.max_client_conn)),
        ("server_tls_sslmode", s.server_sslmode),
        ("server_tls_ca_file", s.server_ca_file),
        ("server_tls_protocols", "secure"),
        ("client_tls_sslmode", s.client_sslmode),
        ("client_tls_cert_file", s.client_tls_cert_file),
        ("client_tls_key_file", s.client_tls_key_file),
        ("client_tls_protocols", "secure"),
        ("ignore_startup_parameters", "extra_float_digits"),  # JDBC and others send it; harmless to drop
        ("server_lifetime", "3600"),
        ("server_idle_timeout", "600"),
        ("query_wait_timeout", "60"),
        ("tcp_keepalive", "1"),
        ("log_connections", "0"),  # thousands of application connections would drown the log
        ("log_disconnections", "0"),
        ("stats_period", "60"),
    ]


def unsupported(version: tuple[int, int]) -> list[str]:
    """The settings this renderer writes that PgBouncer `version` does not know."""
    return [key for key, first in MIN_VERSION.items() if version < first]


def render(s: PgBouncerSettings, *, version: tuple[int, int] = SHIPPED_VERSION) -> str:
    """The file. `version`: the PgBouncer that reads it; settings it does not know are left out (see `unsupported`)."""
    if not s.hosts:
        raise ValueError(f"database {s.database!r}: needs at least one server host")
    if any(c in s.database for c in " =\n\"'") or any(c in h for h in s.hosts for c in " ,=\n"):
        raise ValueError(f"database {s.database!r} / hosts {list(s.hosts)}: no spaces, quotes, '=' or ','")
    skip = set(unsupported(version))
    hosts = ",".join(s.hosts)
    lines = [
        "; Rendered by components/kubernetes/pgbouncer_ini.py (docs/kubernetes.md). Do not edit.",
        "[databases]",
        f"{s.database} = host={hosts} port={s.port} dbname={s.database}",
        "",
        "[pgbouncer]",
        *(f"{key} = {value}" for key, value in settings_lines(s) if key not in skip),
        "",
    ]
    return "\n".join(lines)


def userlist_template(username_key: str = "username", password_key: str = "password") -> str:
    """The External Secrets template that writes auth_file from the secret's JSON: `"user" "password"`, with `"`
    doubled as PgBouncer's format requires. Rendered by the operator in the cluster, never by this program."""
    return (
        f'"{{{{ .{username_key} | replace "\\"" "\\"\\"" }}}}" "{{{{ .{password_key} | replace "\\"" "\\"\\"" }}}}"\n'
    )


def userlist_line(username: str, password: str) -> str:
    """What `userlist_template` produces for these values (the same quoting, for tests and local runs)."""
    return '"{}" "{}"\n'.format(username.replace('"', '""'), password.replace('"', '""'))


def reloader_script(watched: Sequence[str], interval_seconds: int = 30) -> str:
    """The sidecar that sends PgBouncer SIGHUP (RELOAD: it re-reads auth_file and its TLS files) when a watched file
    changes: a rotated password synced by External Secrets, a certificate renewed by cert-manager. POSIX sh with
    `sha256sum`, `sleep` and `pkill` (busybox has them); it runs in the pod's shared process namespace as
    PgBouncer's uid, so it can signal only that pod's PgBouncer processes."""
    if not watched or any(not path.startswith("/") or " " in path or "'" in path for path in watched):
        raise ValueError(f"watched files {list(watched)}: absolute paths without spaces or quotes")
    files = " ".join(f"'{path}'" for path in watched)
    return "\n".join(
        [
            "#!/bin/sh",
            "# Rendered by components/kubernetes/pgbouncer_ini.py (docs/kubernetes.md). Do not edit.",
            "set -u",
            f"state() {{ cat {files} 2>/dev/null | sha256sum; }}",
            "last=$(state)",
            f"while sleep {int(interval_seconds)}; do",
            "  now=$(state)",
            '  if [ "$now" != "$last" ] && pkill -HUP -x pgbouncer; then',
            '    echo "reloader: files changed, PgBouncer reloaded"',
            "    last=$now",
            "  fi",
            "done",
            "",
        ]
    )
