"""`python -m scripts roles apply` against a real PostgreSQL 15 run with the audit parameters the parameter group
renders (components/postgres/tuning.py), secrets in moto: the roles exist with exactly their privileges, log in with
their own secrets, a second run changes nothing, and DDL and role changes reach the server log as pgaudit AUDIT
lines, connections and disconnections as their own lines."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from components.postgres.roles import ROLE_NAMES
from components.postgres.tuning import parameters
from scripts import PROJECT_DIR
from tests.servers.postgres import PostgresFactory, PostgresServer

pytestmark = pytest.mark.servers

AUDIT_KEYS = ("shared_preload_libraries", "pgaudit.log", "log_connections", "log_disconnections")
DATABASE = "cryb"


def rendered_audit_settings() -> dict[str, str]:
    """The shard parameter group's audit settings, as rendered (pg_cron is not asked for on OLTP shards)."""
    rendered = {p.name: p.value for p in parameters("db.r7g.xlarge")}
    return {key: rendered[key] for key in AUDIT_KEYS}


@pytest.fixture
def server(postgres_factory: PostgresFactory) -> PostgresServer:
    settings = {key: value for key, value in rendered_audit_settings().items()}
    server = postgres_factory.create(settings=settings)
    # An RDS-like master: CREATEROLE, owner of the database, not a superuser. The superuser only creates the admin,
    # the database and the pgaudit extension (on RDS, rds_superuser may create it; roles apply then finds it).
    server.execute("CREATE ROLE admin LOGIN CREATEROLE PASSWORD 'admin-pw-1'")
    server.execute(f"CREATE DATABASE {DATABASE} OWNER admin")
    server.execute("CREATE EXTENSION pgaudit", dbname=DATABASE)
    return server


def put_secret(client: Any, name: str, username: str, password: str) -> str:
    return client.create_secret(Name=name, SecretString=json.dumps({"username": username, "password": password}))["ARN"]


@pytest.fixture
def outputs(server: PostgresServer, moto_server: str, tmp_path: Path) -> Path:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    suffix = str(time.monotonic_ns())
    roles = {role: put_secret(client, f"roles-{role}-{suffix}", role, f"{role}-pw-{suffix}") for role in ROLE_NAMES}
    shard = {
        "name": "cryb-test-pg-00",
        "writerEndpoint": server.info.host,
        "port": server.info.port,
        "databaseName": DATABASE,
        "secretArn": put_secret(client, f"roles-admin-{suffix}", "admin", "admin-pw-1"),
        "roleSecretArns": roles,
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"postgres": {"shards": [shard]}, "selfhosted": {"clusters": []}}))
    return path


def run_apply(outputs: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", "roles", "apply", "--outputs", str(outputs), "--sslmode", "disable"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip


def login(server: PostgresServer, outputs: Path, role: str) -> psycopg.Connection:
    arn = json.loads(outputs.read_text())["postgres"]["shards"][0]["roleSecretArns"][role]
    secret = json.loads(
        boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=arn)["SecretString"]
    )
    return psycopg.connect(
        host=server.info.host, port=server.info.port, dbname=DATABASE, user=secret["username"],
        password=secret["password"], autocommit=True,
    )  # fmt: skip


def test_roles_apply_creates_least_privilege_roles_idempotently(server: PostgresServer, outputs: Path) -> None:
    first = run_apply(outputs)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "cryb-test-pg-00: roles app, readonly, monitor, migrator" in " ".join(first.stdout.split())
    grants_before = server.scalar(
        "SELECT string_agg(nspacl::text, ';') FROM pg_namespace WHERE nspname IN ('app', 'public')", dbname=DATABASE
    )
    second = run_apply(outputs)  # idempotent: same result, no error
    assert second.returncode == 0, second.stdout + second.stderr
    assert grants_before == server.scalar(
        "SELECT string_agg(nspacl::text, ';') FROM pg_namespace WHERE nspname IN ('app', 'public')", dbname=DATABASE
    )

    with login(server, outputs, "migrator") as migrator:
        migrator.execute("CREATE TABLE app.posts (id bigserial PRIMARY KEY, body text NOT NULL)")
        owner = migrator.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'app'").fetchone()
        assert owner == ("migrator",)
    with login(server, outputs, "app") as app:
        app.execute("INSERT INTO app.posts (body) VALUES ('hello')")  # default privileges: a table made later
        app.execute("UPDATE app.posts SET body = 'hi'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE app.mine (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE public.mine (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DROP TABLE app.posts")
    with login(server, outputs, "readonly") as readonly:
        assert readonly.execute("SELECT body FROM app.posts").fetchall() == [("hi",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            readonly.execute("DELETE FROM app.posts")
    with login(server, outputs, "monitor") as monitor:
        assert monitor.execute("SELECT pg_has_role('monitor', 'pg_monitor', 'MEMBER')").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            monitor.execute("SELECT * FROM app.posts")
    for role in ROLE_NAMES:
        flags = server.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", (role,))
        assert flags == [(False, False, False)], role


def test_ddl_and_role_changes_are_audited_and_connections_logged(server: PostgresServer, outputs: Path) -> None:
    assert run_apply(outputs).returncode == 0
    with login(server, outputs, "migrator") as migrator:
        migrator.execute("CREATE TABLE app.audited_table (id int)")
    log = ""
    for _ in range(50):  # the server writes its log asynchronously
        log = server.log_path.read_text()
        if "audited_table" in log and "disconnection" in log:
            break
        time.sleep(0.1)
    audit = [line for line in log.splitlines() if "AUDIT: SESSION" in line]
    assert any("DDL" in line and "CREATE TABLE app.audited_table" in line for line in audit), audit
    assert any("ROLE" in line and "CREATE ROLE" in line for line in audit), audit  # roles apply's own changes
    assert any("ROLE" in line and "ALTER ROLE" in line for line in audit), audit
    assert not any("PASSWORD 'SCRAM" in line and "pw-" in line for line in audit)  # verifiers only, never passwords
    assert "connection authorized: user=migrator" in log
    assert "disconnection: session time:" in log and "user=migrator" in log
