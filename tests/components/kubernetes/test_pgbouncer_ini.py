"""pgbouncer.ini rendering (pure). That PgBouncer accepts and runs it is tests/real/test_pgbouncer_rendered.py."""

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from components.kubernetes.manifests import RELOADER_WATCHES
from components.kubernetes.pgbouncer_ini import (
    MIN_VERSION,
    PgBouncerSettings,
    reloader_script,
    render,
    unsupported,
    userlist_line,
    userlist_template,
)
from components.kubernetes.pool_sizing import pool_sizes

SHELLCHECK = str(Path(sys.executable).with_name("shellcheck"))

POOLS = pool_sizes(max_connections=800, reserved_connections=10, max_replicas=4, other_poolers=640)


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


def test_the_pool_and_tls_settings_come_from_their_sources() -> None:
    ini = parsed(render(PgBouncerSettings(database="cryb", hosts=["r1", "r2"], port=5433, pools=POOLS)))
    assert ini["databases"]["cryb"] == "host=r1,r2 port=5433 dbname=cryb"
    p = ini["pgbouncer"]
    assert (p["default_pool_size"], p["reserve_pool_size"], p["max_db_connections"]) == ("29", "7", "36")
    assert p["pool_mode"] == "transaction" and p["max_prepared_statements"] == "200"
    assert p["server_tls_sslmode"] == "verify-full" and p["client_tls_sslmode"] == "require"
    assert p["auth_type"] == "scram-sha-256" and p["auth_file"] == "/etc/pgbouncer/auth/userlist.txt"


def test_an_older_pgbouncer_gets_the_file_without_what_it_lacks() -> None:
    settings = PgBouncerSettings(database="cryb", hosts=["h"], port=5433, pools=POOLS)
    assert "max_prepared_statements" not in parsed(render(settings, version=(1, 18)))["pgbouncer"]
    assert (
        "max_prepared_statements"
        in parsed(render(settings, version=MIN_VERSION["max_prepared_statements"]))["pgbouncer"]
    )
    assert unsupported((1, 20)) == ["max_prepared_statements"]
    # so_reuseport (several processes on one port) came with 1.12: Debian's 1.18 keeps it
    assert parsed(render(settings, version=(1, 18)))["pgbouncer"]["so_reuseport"] == "1"
    assert parsed(render(settings))["pgbouncer"]["so_reuseport"] == "1"
    assert "so_reuseport" not in parsed(render(settings, version=(1, 11)))["pgbouncer"]
    assert unsupported((1, 11)) == ["so_reuseport", "max_prepared_statements"]


@pytest.mark.parametrize(("database", "hosts"), [("cr yb", ["h"]), ("cryb", []), ("cryb", ["h,evil"]), ("c=b", ["h"])])
def test_values_that_would_break_the_file_are_refused(database: str, hosts: list[str]) -> None:
    with pytest.raises(ValueError, match="database"):
        render(PgBouncerSettings(database=database, hosts=hosts, port=5433, pools=POOLS))


def test_the_auth_file_template_quotes_as_pgbouncer_reads_it() -> None:
    assert userlist_line('a"b', 'p "w"') == '"a""b" "p ""w"""\n'
    template = userlist_template()
    assert template.startswith('"{{ .username | replace "\\"" "\\"\\"" }}" ')
    assert "{{ .password" in template and template.endswith('}}"\n')


def test_the_reloader_script_passes_shellcheck_and_refuses_odd_paths(tmp_path: Path) -> None:
    script = tmp_path / "reload.sh"
    script.write_text(reloader_script(RELOADER_WATCHES))
    result = subprocess.run([SHELLCHECK, "-s", "sh", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    for path in RELOADER_WATCHES:
        assert f"'{path}'" in script.read_text()
    with pytest.raises(ValueError, match="absolute paths"):
        reloader_script(["relative/file"])
    with pytest.raises(ValueError, match="absolute paths"):
        reloader_script(["/etc/it's"])
