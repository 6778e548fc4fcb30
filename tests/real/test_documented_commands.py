"""The documented `--dsn` commands (health, analytics migrate/status in README.md and docs/) run against a real
PostgreSQL 15 this test starts, in their documented form with the server's DSN, through `python -m scripts`, and
exit as the docs say. Derived from the docs (tests/project/test_documented_commands.py), so new examples are run."""

import json
import re
import shlex

import pytest

from tests.cli import run_cli
from tests.project.test_documented_commands import DOCUMENTED, split
from tests.servers.postgres import PostgresFactory

pytestmark = pytest.mark.servers

# What the docs promise for a healthy single server: health 0 ok or 1 warning (a fresh server has no statistics
# yet, and no replica is expected), analytics 0.
EXPECTED = {("health",): {0, 1}, ("analytics", "migrate"): {0}, ("analytics", "status"): {0}}
ORDER = [("analytics", "migrate"), ("analytics", "status"), ("health",)]  # status after a migration


def dsn_runs() -> list[tuple[str, tuple[str, ...], list[str]]]:
    runs: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}
    for where, words in DOCUMENTED:
        path, options = split(words)
        if path not in EXPECTED or "--dsn" not in options:
            continue
        minimal = re.sub(r"\[[^\]]*\]", " ", words).replace("…", "...")
        argv = shlex.split(minimal)
        at = argv.index("--dsn") + 1
        argv[at : at + 1] = ["DSN"]  # the documented value, or none (`health --dsn <the DSN>` in prose)
        runs.setdefault(tuple(argv), (where, path))
    found = [(where, path, list(argv)) for argv, (where, path) in runs.items()]
    return sorted(found, key=lambda run: ORDER.index(run[1]))


RUNS = dsn_runs()


def test_the_docs_show_dsn_commands() -> None:
    assert {path for _, path, _ in RUNS} >= {("health",), ("analytics", "migrate")}


def test_documented_dsn_commands_run_against_postgres(postgres_factory: PostgresFactory) -> None:
    server = postgres_factory.create(name="documented")
    server.execute("create database cryb")
    dsn = server.info.dsn_for(dbname="cryb")
    for where, path, argv in RUNS:
        done = run_cli(*[dsn if a == "DSN" else a for a in argv], timeout=300)
        shown = " ".join(argv)
        assert done.returncode in EXPECTED[path], f"{where}: {shown}: exit {done.returncode}: {done.stderr[-1500:]}"
        assert "Traceback" not in done.stderr, f"{where}: {shown}"
        assert server.info.password not in done.stdout + done.stderr, f"{where}: {shown} printed the password"
        if "--json" in argv:
            assert isinstance(json.loads(done.stdout), dict), f"{where}: {shown}"
    assert server.scalar("select count(*) from analytics.schema_migrations", dbname="cryb") >= 3
