"""Analytics migrations against real PostgreSQL 15 with pg_partman 4.7 and pg_cron 1.4 (docs/analytics.md):
strategy choice, partitions, retention, idempotence, tampering, rollback, concurrent runners, the pg_cron job, the
native fallback, a non-superuser owner, the pg_partman 5.x call shape and the TimescaleDB SQL's syntax and calls."""

import json
import re
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from typer.testing import CliRunner

from scripts.analytics.command import analytics_app
from scripts.analytics.connections import connect
from scripts.analytics.errors import MigrationError, MigrationRunError
from scripts.analytics.files import MIGRATIONS_DIR
from scripts.analytics.parameters import Parameters
from scripts.analytics.runner import Outcome, migrate
from scripts.preview.mock_engine import Evaluation
from tests.servers.post_bootstrap import rendered_post_bootstrap, run_post_bootstrap
from tests.servers.postgres import PostgresFactory, PostgresServer

pytestmark = pytest.mark.servers
TABLES = ("user_events", "performance_metrics", "content_engagement")


def run_cli(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(analytics_app, [*args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    document = json.loads(result.stdout) if result.stdout.strip() else {"stderr": result.stderr}
    return result.exit_code, document


def run_text(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(analytics_app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def run(server: PostgresServer, dbname: str | None = None, **kwargs: Any) -> Outcome:
    dsn = server.info.dsn_for(dbname=dbname) if dbname else server.info.dsn
    with connect(dsn) as conn:
        return migrate(conn, **kwargs)


def children(server: PostgresServer, table: str, dbname: str | None = None) -> list[str]:
    rows = server.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = %s::regclass order by 1",
        (f"analytics.{table}",),
        dbname=dbname,
    )
    return [r[0] for r in rows]


def history(server: PostgresServer, dbname: str | None = None) -> list[tuple[Any, ...]]:
    return server.execute(
        "select version, strategy, checksum, applied_at from analytics.schema_migrations order by version",
        dbname=dbname,
    )


def days(offsets: range, style: str) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today + timedelta(days=d)).strftime(style) for d in offsets]


def copy_migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


def test_a_fresh_database_gets_daily_pg_partman_partitions_with_retention_and_a_rerun_changes_nothing(
    postgres_factory: PostgresFactory,
) -> None:
    server = postgres_factory.create(name="analytics")
    code, plan = run_cli("migrate", "--dsn", server.info.dsn, "--dry-run")
    assert (code, plan["dryRun"], len(plan["planned"])) == (0, True, 3)
    assert server.scalar("select to_regnamespace('analytics')") is None  # a dry run changes nothing

    code, outcome = run_cli("migrate", "--dsn", server.info.dsn, "--premake-days", "5")
    assert code == 0, outcome
    assert outcome["strategy"] == "partman"
    assert outcome["reason"] == (
        "TimescaleDB is not available on this server: native range partitioning by day with pg_partman 4.7.2"
    )
    assert outcome["maintenance"].startswith("external: pg_cron is not loaded (shared_preload_libraries)")
    assert [a["file"] for a in outcome["applied"]] == [
        "0001_backend.partman.sql",
        "0002_event_tables.partman.sql",
        "R_policies.partman.sql",
    ]
    for table in TABLES:
        names = children(server, table)
        assert {f"{table}_p{day}" for day in days(range(0, 6), "%Y_%m_%d")} <= set(names), names  # today + 5
        assert f"{table}_default" in names
        config = server.execute(
            "select premake, retention, retention_keep_table, infinite_time_partitions from partman.part_config "
            "where parent_table = %s",
            (f"analytics.{table}",),
        )
        assert config == [(5, "90 days", False, True)]

    landed = server.scalar(
        "insert into analytics.user_events (occurred_at, user_id, event_type, properties) "
        "values (now(), 42, 'post.view', '{\"post\": 7}') returning tableoid::regclass::text"
    )
    assert landed == f"analytics.user_events_p{days(range(0, 1), '%Y_%m_%d')[0]}"
    with pytest.raises(psycopg.errors.CheckViolation):
        server.execute("insert into analytics.user_events (occurred_at, event_type) values (now(), 'Bad Type!')")

    recorded = history(server)
    code, again = run_cli("migrate", "--dsn", server.info.dsn, "--premake-days", "5")
    assert (code, again["applied"], again["skipped"]) == (0, [], 3)
    assert history(server) == recorded

    code, text = run_text("migrate", "--dsn", server.info.dsn, "--premake-days", "5")
    assert code == 0
    assert "strategy: partman - kept partman, which built the existing analytics schema: native range " in text
    assert "partitioning by day with pg_partman 4.7.2" in text
    assert "maintenance: external: pg_cron is not loaded" in text
    assert "nothing to apply (3 already applied)" in text

    # Retention really drops: a partition 200 days old goes at the next maintenance.
    old = (datetime.now(UTC) - timedelta(days=200)).replace(hour=12)
    server.execute("select partman.create_partition_time('analytics.user_events', array[%s::timestamptz])", (old,))
    old_name = f"user_events_p{old.strftime('%Y_%m_%d')}"
    assert old_name in children(server, "user_events")
    server.execute("select partman.run_maintenance('analytics.user_events')")
    assert old_name not in children(server, "user_events")

    # A new retention re-applies only the repeatable policies.
    code, changed = run_cli("migrate", "--dsn", server.info.dsn, "--premake-days", "5", "--retention-days", "30")
    assert [a["file"] for a in changed["applied"]] == ["R_policies.partman.sql"]
    assert server.scalar("select retention from partman.part_config where parent_table = 'analytics.user_events'") == (
        "30 days"
    )
    code, status = run_cli("status", "--dsn", server.info.dsn)
    assert code == 0
    assert [(m["version"], m["state"]) for m in status["migrations"]] == [
        ("0001", "applied"),
        ("0002", "applied"),
        ("R_policies", "applied"),
    ]
    assert status["migrations"][2]["params"]["retention_days"] == "30"


def test_a_changed_applied_migration_is_refused_by_name_before_anything_runs(
    postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    server = postgres_factory.create(name="analytics")
    directory = copy_migrations(tmp_path)
    run(server, directory=directory)
    tampered = directory / "0002_event_tables.partman.sql"
    tampered.write_text(tampered.read_text().replace("bigint", "integer", 1))
    (directory / "0003_new_table.sql").write_text("CREATE TABLE analytics.should_not_exist (id int);\n")
    recorded = history(server)

    with pytest.raises(MigrationError, match=r"0002_event_tables\.partman\.sql was changed after it was applied"):
        run(server, directory=directory)
    assert server.scalar("select to_regclass('analytics.should_not_exist')") is None
    assert history(server) == recorded


def test_a_failing_migration_is_rolled_back_completely_and_not_recorded(
    postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    server = postgres_factory.create(name="analytics")
    directory = copy_migrations(tmp_path)
    broken = directory / "0003_engagement_rollup.sql"
    broken.write_text(
        "CREATE TABLE analytics.half_done (id int);\n"
        "INSERT INTO analytics.user_events (occurred_at, event_type) VALUES (now(), 'half.done');\n"
        "ALTER TABLE analytics.content_engagement ADD COLUMN score integer;\n"
        "SELECT 1 / 0;\n"
    )
    with pytest.raises(MigrationRunError) as caught:
        run(server, directory=directory)
    assert caught.value.file == "0003_engagement_rollup.sql"
    assert "22012 division by zero" in str(caught.value)
    assert caught.value.applied_before == ["0001_backend.partman.sql", "0002_event_tables.partman.sql"]
    assert server.scalar("select to_regclass('analytics.half_done')") is None
    assert server.scalar("select count(*) from analytics.user_events") == 0
    assert (
        server.scalar(
            "select count(*) from information_schema.columns where table_name = 'content_engagement' "
            "and column_name = 'score'"
        )
        == 0
    )
    assert [row[0] for row in history(server)] == ["0001", "0002"]  # and the policies after it did not run

    broken.write_text("ALTER TABLE analytics.content_engagement ADD COLUMN score integer;\n")
    fixed = run(server, directory=directory)
    assert [a["file"] for a in fixed.applied] == ["0003_engagement_rollup.sql", "R_policies.partman.sql"]


def test_two_runners_at_once_apply_each_migration_once(postgres_factory: PostgresFactory) -> None:
    server = postgres_factory.create(name="analytics")
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def runner() -> None:
        try:
            outcomes.append(run(server))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(len(o.applied) for o in outcomes) == [0, 3]
    assert [row[0] for row in history(server)] == ["0001", "0002", "R_policies"]


def test_the_production_shape_outputs_owner_role_pg_partman_and_pg_cron(
    postgres_factory: PostgresFactory, moto_server: str, tmp_path: Path, prod: Evaluation
) -> None:
    """As the self-hosted analytics cluster runs: the rendered post-bootstrap script (as superuser) creates the owner,
    the database, pg_partman and pg_cron and grants them to the owner; the operator runs `migrate --outputs` as the
    owner, whose password is in Secrets Manager."""
    server = postgres_factory.create(
        name="analytics-cron",
        # the rendered cluster preloads pgaudit too: the post-bootstrap script creates its extension
        settings={"shared_preload_libraries": "pg_cron,pgaudit", "cron.database_name": "cryb"},
    )
    password = "owner-" + server.info.password
    run_post_bootstrap(rendered_post_bootstrap(prod), server, tmp_path, backend="partman", admin_password=password)
    assert (
        server.scalar("select count(*) from pg_extension where extname in ('pg_partman', 'pg_cron')", dbname="cryb")
        == 2
    )
    arn = boto3.client("secretsmanager").create_secret(
        Name="cryb-prod-analytics-admin", SecretString=json.dumps({"username": "cryb_admin", "password": password})
    )["ARN"]
    outputs = tmp_path / "outputs.json"
    cluster = {
        "name": "analytics",
        "engine": "patroni-postgresql",
        "writerEndpoint": server.info.host,
        "port": server.info.port,
        "databaseName": "cryb",
        "secretArn": arn,
    }
    outputs.write_text(json.dumps({"selfhosted": {"clusters": [cluster]}}))
    args = ("--outputs", str(outputs), "--sslmode", "disable")

    code, outcome = run_cli("migrate", *args, "--cron-schedule", "*/15 * * * *")
    assert code == 0, outcome
    assert (outcome["strategy"], outcome["database"]) == ("partman", "cryb")
    assert outcome["maintenance"] == "pg_cron job cryb-analytics-maintenance (*/15 * * * *)"
    jobs = server.execute("select jobname, schedule, command, database, username from cron.job", dbname="cryb")
    assert jobs == [
        ("cryb-analytics-maintenance", "*/15 * * * *", "CALL partman.run_maintenance_proc()", "cryb", "cryb_admin")
    ]
    owner = server.info.dsn_for(user="cryb_admin", password=password, dbname="cryb")
    with psycopg.connect(owner, autocommit=True) as conn:  # the job's command works with the owner's grants
        conn.execute("CALL partman.run_maintenance_proc()")

    code, changed = run_cli("migrate", *args, "--cron-schedule", "7 * * * *")
    assert [a["file"] for a in changed["applied"]] == ["R_policies.partman.sql"]
    assert server.execute("select schedule from cron.job", dbname="cryb") == [("7 * * * *",)]

    code, refused = run_text("migrate", *args, "--cron-schedule", "*/30 * * * * *")
    assert code == 2
    assert "cron_schedule: '*/30 * * * * *' is not allowed" in refused
    assert server.execute("select schedule from cron.job", dbname="cryb") == [("7 * * * *",)]

    code, status = run_cli("status", *args)
    assert (code, status["strategy"], len(status["migrations"])) == (0, "partman", 3)


def test_native_partitioning_maintains_itself_without_pg_partman(postgres_factory: PostgresFactory) -> None:
    server = postgres_factory.create(name="analytics")
    code, outcome = run_cli("migrate", "--dsn", server.info.dsn, "--strategy", "native", "--retention-days", "10")
    assert code == 0, outcome
    assert outcome["strategy"] == "native"
    assert outcome["reason"] == "native requested: native range partitioning by day with analytics.run_maintenance()"
    assert "schedule SELECT analytics.run_maintenance() at least hourly" in outcome["maintenance"]
    assert server.scalar("select count(*) from pg_extension where extname = 'pg_partman'") == 0
    for table in TABLES:
        names = children(server, table)
        assert {f"{table}_p{day}" for day in days(range(-1, 8), "%Y%m%d")} <= set(names), names
        assert f"{table}_default" in names
    landed = server.scalar(
        "insert into analytics.content_engagement (occurred_at, content_type, content_id, action, dwell_ms) "
        "values (now(), 'post', 7, 'view', 1200) returning tableoid::regclass::text"
    )
    assert landed == f"analytics.content_engagement_p{days(range(0, 1), '%Y%m%d')[0]}"

    server.execute("select analytics.create_day_partition('analytics.user_events', current_date - 11)")
    server.execute("select analytics.create_day_partition('analytics.user_events', current_date - 9)")
    maintained = server.execute("select * from analytics.run_maintenance() where parent = 'analytics.user_events'")
    assert maintained == [("analytics.user_events", 0, 1)]
    remaining = children(server, "user_events")
    assert f"user_events_p{days(range(-11, -10), '%Y%m%d')[0]}" not in remaining
    assert f"user_events_p{days(range(-9, -8), '%Y%m%d')[0]}" in remaining

    code, again = run_cli("migrate", "--dsn", server.info.dsn, "--retention-days", "10")
    assert (code, again["applied"], again["strategy"]) == (0, [], "native")
    assert again["reason"].startswith("kept native, which built the existing analytics schema: native range")
    code, text = run_text("migrate", "--dsn", server.info.dsn, "--strategy", "partman")
    assert code == 2
    assert "strategy: partman is not allowed: the analytics schema was built with native" in text
    assert server.scalar("select count(*) from pg_extension where extname = 'pg_partman'") == 0


def test_the_database_owner_without_superuser_gets_partman_when_granted_and_native_otherwise(
    postgres_factory: PostgresFactory, tmp_path: Path, prod: Evaluation
) -> None:
    """As on the self-hosted cluster: the rendered bootstrap creates pg_partman as superuser and grants it to the owner
    (database `cryb`, here without pg_cron preloaded); migrations run as the owner. `ungranted` has the extension but
    not the grants, `plain` neither."""
    server = postgres_factory.create(name="analytics", settings={"shared_preload_libraries": "pgaudit"})
    password = "owner-" + server.info.password
    run_post_bootstrap(rendered_post_bootstrap(prod), server, tmp_path, backend="partman", admin_password=password)
    for database in ("ungranted", "plain"):
        server.execute(f"create database {database} owner cryb_admin")
    server.execute("create schema partman", dbname="ungranted")
    server.execute("create extension pg_partman schema partman", dbname="ungranted")

    def owner_dsn(database: str) -> str:
        return server.info.dsn_for(user="cryb_admin", password=password, dbname=database)

    code, granted = run_cli("migrate", "--dsn", owner_dsn("cryb"))
    assert code == 0, granted
    assert granted["strategy"] == "partman", granted
    assert len(children(server, "user_events", dbname="cryb")) > 8

    code, plain = run_cli("migrate", "--dsn", owner_dsn("plain"))
    assert (code, plain["strategy"]) == (0, "native"), plain
    assert "pg_partman is available but not installed, and role cryb_admin cannot create it" in plain["reason"]

    for strategy in ("partman", "auto"):
        code, text = run_text("migrate", "--dsn", owner_dsn("ungranted"), "--strategy", strategy)
        assert code == 2
        assert "role cryb_admin lacks USAGE on schema partman" in text
    assert server.scalar("select to_regclass('analytics.schema_migrations')", dbname="ungranted") is None


def test_the_pg_partman_5_call_binds_to_the_5x_signature(postgres: PostgresServer) -> None:
    """RDS for PostgreSQL 16+ ships pg_partman 5.x: run 0002 against a stub with 5.x's create_parent signature
    (sql/functions/create_parent.sql of pg_partman 5) and check the arguments it received."""
    sql = (MIGRATIONS_DIR / "0002_event_tables.partman.sql").read_text()
    with psycopg.connect(postgres.info.dsn) as conn:  # one transaction, rolled back at the end
        conn.execute("create schema analytics")
        conn.execute("create schema partman")
        conn.execute("create table partman.calls (parent text, control text, interval text, type text, premake int)")
        conn.execute(
            """
            create function partman.create_parent(
                p_parent_table text, p_control text, p_interval text, p_type text default 'range',
                p_epoch text default 'none', p_premake int default 4, p_start_partition text default null,
                p_default_table boolean default true, p_automatic_maintenance text default 'on',
                p_constraint_cols text[] default null, p_template_table text default null,
                p_jobmon boolean default true, p_date_trunc_interval text default null,
                p_control_not_null boolean default true, p_time_encoder text default null,
                p_time_decoder text default null, p_offset_id bigint default 0, p_timezone text default null)
            returns boolean language sql as $$
                insert into partman.calls values (p_parent_table, p_control, p_interval, p_type, p_premake)
                returning true $$
            """
        )
        conn.execute("select set_config('cryb_analytics.partman_major', '5', true)")
        conn.execute("select set_config('cryb_analytics.premake_days', '4', true)")
        conn.execute(sql.encode())
        calls = conn.execute("select * from partman.calls order by parent").fetchall()
        conn.rollback()
    assert calls == [
        ("analytics.content_engagement", "occurred_at", "1 day", "range", 4),
        ("analytics.performance_metrics", "recorded_at", "1 day", "range", 4),
        ("analytics.user_events", "occurred_at", "1 day", "range", 4),
    ]


TIMESCALEDB_STUBS = """
create schema timescaledb_stub;
create table timescaledb_stub.calls (fn text, relation regclass, arg text);
create function timescaledb_stub.create_hypertable(
    relation regclass, time_column_name name, partitioning_column name default null,
    number_partitions integer default null, associated_schema_name name default null,
    associated_table_prefix name default null, chunk_time_interval interval default null,
    create_default_indexes boolean default true, if_not_exists boolean default false)
returns void language sql as $$
    insert into timescaledb_stub.calls
    values ('create_hypertable', relation, time_column_name || ' ' || chunk_time_interval)
$$;
create function timescaledb_stub.add_retention_policy(
    relation regclass, drop_after interval, if_not_exists bool default false)
returns integer language sql as $$
    insert into timescaledb_stub.calls values ('add_retention_policy', relation, drop_after::text) returning 1
$$;
create function timescaledb_stub.remove_retention_policy(relation regclass, if_exists bool default false)
returns void language sql as $$ insert into timescaledb_stub.calls values ('remove_retention_policy', relation, '') $$;
create function timescaledb_stub.add_compression_policy(
    hypertable regclass, compress_after interval, if_not_exists bool default false)
returns integer language sql as $$
    insert into timescaledb_stub.calls values ('add_compression_policy', hypertable, compress_after::text) returning 1
$$;
create function timescaledb_stub.remove_compression_policy(hypertable regclass, if_exists bool default false)
returns bool language sql as $$
    insert into timescaledb_stub.calls values ('remove_compression_policy', hypertable, '') returning true
$$;
"""


def statements(sql: str) -> list[str]:
    """The TimescaleDB files hold plain statements (no dollar quotes), one per `;` at a line end."""
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in re.split(r";\s*\n", without_comments) if s.strip()]


SYNTAX_CHECK = (
    "create function pg_temp.syntax_check() returns void language plpgsql as $check$ begin\n{body}\nend $check$"
)


@pytest.mark.parametrize("path", sorted(MIGRATIONS_DIR.glob("*.timescaledb.sql")), ids=lambda p: p.name)
def test_the_timescaledb_sql_parses(postgres: PostgresServer, path: Path) -> None:
    """Syntax only: PL/pgSQL parses every statement of a function body when it is created (never run here)."""
    body = path.read_text()
    assert "$check$" not in body
    with psycopg.connect(postgres.info.dsn) as conn:
        conn.execute(SYNTAX_CHECK.format(body=body).encode())
        conn.rollback()
    with psycopg.connect(postgres.info.dsn) as conn, pytest.raises(psycopg.errors.SyntaxError):
        broken = body + "\nCREATE TABLEE analytics.broken (id int);\n"  # the check can fail
        conn.execute(SYNTAX_CHECK.format(body=broken).encode())


def test_the_timescaledb_sql_calls_hypertable_and_policy_functions_with_the_right_arguments(
    postgres: PostgresServer,
) -> None:
    """Call shapes, not TimescaleDB behaviour: the files run against stubs with TimescaleDB's parameter names, and the
    compression settings must fail only on the one thing plain PostgreSQL lacks (the timescaledb option namespace)."""
    tables = (MIGRATIONS_DIR / "0002_event_tables.timescaledb.sql").read_text()
    policies = (MIGRATIONS_DIR / "R_policies.timescaledb.sql").read_text()
    settings = Parameters(retention_days=120, compress_after_days=14).settings(use_cron=False)
    compress_settings = 0
    with psycopg.connect(postgres.info.dsn) as conn:  # one transaction, rolled back at the end
        conn.execute(TIMESCALEDB_STUBS.encode())
        conn.execute("create schema analytics")
        conn.execute("set local search_path = timescaledb_stub, public")
        for name, value in settings.items():
            conn.execute("select set_config(%s, %s, true)", (f"cryb_analytics.{name}", value))
        for statement in statements(tables) + statements(policies):
            if "timescaledb.compress" in statement:
                with pytest.raises(psycopg.errors.InvalidParameterValue, match='namespace "timescaledb"'):
                    with conn.transaction():
                        conn.execute(statement.encode())
                compress_settings += 1
            else:
                conn.execute(statement.encode())
        calls = conn.execute("select fn, relation::text, arg from timescaledb_stub.calls").fetchall()
        conn.rollback()
    assert compress_settings == 3
    assert [c for c in calls if c[0] == "create_hypertable"] == [
        ("create_hypertable", "analytics.user_events", "occurred_at 1 day"),
        ("create_hypertable", "analytics.performance_metrics", "recorded_at 1 day"),
        ("create_hypertable", "analytics.content_engagement", "occurred_at 1 day"),
    ]
    for table in ("analytics.user_events", "analytics.performance_metrics", "analytics.content_engagement"):
        mine = [(fn, arg) for fn, relation, arg in calls if relation == table and fn != "create_hypertable"]
        assert mine == [
            ("remove_retention_policy", ""),
            ("add_retention_policy", "120 days"),
            ("remove_compression_policy", ""),
            ("add_compression_policy", "14 days"),
        ]
