"""Analytics migrations without a server: files and their order, checksums, the plan, the strategy choice,
parameter validation and the CLI's refusals (scripts/analytics_migrations.py, docs/analytics.md)."""

import re
import shutil
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from scripts.analytics_migrations import (
    MIGRATIONS_DIR,
    Applied,
    Credentials,
    Extension,
    MigrationError,
    Parameters,
    Requested,
    ServerFacts,
    Strategy,
    analytics_app,
    checksum,
    choose_strategy,
    conninfo_from_outputs,
    discover,
    plan,
    repeatable_checksum,
)

SETTINGS = Parameters().settings(use_cron=False)
PG15_PARTMAN = ServerFacts(
    database="cryb",
    role="cryb_admin",
    server_version="15.8",
    can_create_extensions=True,
    available={"pg_partman": Extension("4.7.2"), "pg_cron": Extension("1.4-1")},
)


def facts(**changes: object) -> ServerFacts:
    return ServerFacts(**{**PG15_PARTMAN.__dict__, **changes})  # type: ignore[arg-type]


def copy_migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


# -- files -----------------------------------------------------------------------------------------------------------


def test_the_shipped_migrations_are_ordered_and_complete_for_every_strategy() -> None:
    migrations = discover()
    assert [m.version for m in migrations] == ["0001", "0002", "R_policies"]
    assert [m.repeatable for m in migrations] == [False, False, True]
    for migration in migrations:
        for strategy in Strategy:
            assert migration.file_for(strategy).path.name.endswith(f".{strategy}.sql")


def test_versions_sort_numerically_and_repeatables_run_last(tmp_path: Path) -> None:
    for name in ("R_aaa.sql", "0010_later.sql", "0002_second.sql", "0001_first.sql"):
        (tmp_path / name).write_text("select 1;\n")
    assert [m.version for m in discover(tmp_path)] == ["0001", "0002", "0010", "R_aaa"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["1_short.sql"], "1_short.sql: not a migration name"),
        (["0001_Upper.sql"], "0001_Upper.sql: not a migration name"),
        (["0001_x.postgres.sql"], "unknown strategy 'postgres' (allowed: timescaledb, partman, native)"),
        (["0001_x.partman.sql", "0001_x.native.sql"], "version 0001 (x): no file for strategy timescaledb"),
        (["0001_x.sql", "0001_x.native.sql"], "version 0001: a common file and strategy files"),
        (["0001_a.sql", "0001_b.sql"], "0001_b.sql: version 0001 is also used by 'a'"),
    ],
)
def test_bad_migration_files_are_refused_by_name(tmp_path: Path, files: list[str], message: str) -> None:
    for name in files:
        (tmp_path / name).write_text("select 1;\n")
    with pytest.raises(MigrationError, match=re.escape(message)):
        discover(tmp_path)


def test_checksum_ignores_line_endings_but_not_content() -> None:
    assert checksum("select 1;\nselect 2;\n") == checksum("select 1;\r\nselect 2;\r\n")
    assert checksum("select 1;\n") != checksum("select 2;\n")


def _table_definitions(text: str) -> list[str]:
    """CREATE TABLE bodies, comments and b-tree indexes of a 0002 file, without what differs per strategy."""
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", text).split(";")]
    kept = [
        re.sub(r"\s+", " ", re.sub(r"\)\s*PARTITION BY RANGE \(\w+\)$", ")", s))
        for s in statements
        if s.startswith(("CREATE TABLE analytics.", "CREATE INDEX", "COMMENT ON TABLE"))
        and "USING brin" not in s
        and " PARTITION OF " not in s
    ]
    return kept


def test_the_event_tables_are_the_same_under_every_strategy() -> None:
    (tables,) = [m for m in discover() if m.version == "0002"]
    definitions = {s: _table_definitions(tables.file_for(s).sql) for s in Strategy}
    assert len(definitions[Strategy.timescaledb]) == 3 + 3 + 6  # tables, comments, indexes
    assert definitions[Strategy.partman] == definitions[Strategy.timescaledb]
    assert definitions[Strategy.native] == definitions[Strategy.timescaledb]


# -- plan ------------------------------------------------------------------------------------------------------------


def applied_all(strategy: Strategy, settings: dict[str, str]) -> dict[str, Applied]:
    records = {}
    for migration in discover():
        file = migration.file_for(strategy)
        value = repeatable_checksum(file, settings) if migration.repeatable else file.checksum
        records[migration.version] = Applied(migration.version, migration.name, value, str(strategy))
    return records


def test_a_fresh_database_gets_every_migration_of_its_strategy_in_order() -> None:
    steps = plan(discover(), {}, Strategy.partman, SETTINGS)
    assert [s.label for s in steps] == [
        "0001_backend.partman.sql",
        "0002_event_tables.partman.sql",
        "R_policies.partman.sql",
    ]


def test_nothing_is_planned_when_everything_is_applied() -> None:
    assert plan(discover(), applied_all(Strategy.native, SETTINGS), Strategy.native, SETTINGS) == []


def test_the_repeatable_policies_rerun_when_a_parameter_changes() -> None:
    applied = applied_all(Strategy.partman, SETTINGS)
    changed = Parameters(retention_days=30).settings(use_cron=False)
    assert [s.label for s in plan(discover(), applied, Strategy.partman, changed)] == ["R_policies.partman.sql"]
    with_cron = Parameters().settings(use_cron=True)
    assert [s.label for s in plan(discover(), applied, Strategy.partman, with_cron)] == ["R_policies.partman.sql"]


def test_a_changed_applied_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    applied = applied_all(Strategy.partman, SETTINGS)
    path = directory / "0002_event_tables.partman.sql"
    path.write_text(path.read_text() + "\nCREATE TABLE analytics.sneaky (id int);\n")
    with pytest.raises(MigrationError, match=r"0002_event_tables\.partman\.sql was changed after it was applied"):
        plan(discover(directory), applied, Strategy.partman, SETTINGS)


def test_an_applied_version_without_a_file_is_refused(tmp_path: Path) -> None:
    applied = {**applied_all(Strategy.partman, SETTINGS), "0003": Applied("0003", "gone", "x" * 64, "partman")}
    with pytest.raises(MigrationError, match=r"version 0003 \(gone\) is recorded as applied but has no file"):
        plan(discover(), applied, Strategy.partman, SETTINGS)


def test_a_pending_migration_older_than_an_applied_one_is_refused(tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path)
    applied = applied_all(Strategy.partman, SETTINGS)
    applied["0005"] = Applied("0005", "later", checksum("select 5;\n"), "partman")
    (directory / "0005_later.sql").write_text("select 5;\n")
    (directory / "0003_forgotten.sql").write_text("select 3;\n")
    with pytest.raises(MigrationError, match=r"0003_forgotten\.sql is not applied but the newer version 0005 is"):
        plan(discover(directory), applied, Strategy.partman, SETTINGS)


# -- strategy --------------------------------------------------------------------------------------------------------


def test_without_timescaledb_pg_partman_is_chosen_and_the_reason_says_why() -> None:
    choice = choose_strategy(facts(), Requested.auto, Parameters())
    assert choice.strategy == Strategy.partman
    assert choice.partman_version == "4.7.2"
    assert choice.reason == (
        "TimescaleDB is not available on this server: native range partitioning by day with pg_partman 4.7.2"
    )
    assert choice.maintenance.startswith("external: pg_cron is not loaded")
    assert not choice.use_cron


def test_pg_cron_in_this_database_schedules_the_maintenance() -> None:
    loaded = facts(cron_database="cryb", preload_libraries=("pg_cron",))
    choice = choose_strategy(loaded, Requested.auto, Parameters(cron_schedule="*/10 * * * *"))
    assert (choice.use_cron, choice.maintenance) == (True, "pg_cron job cryb-analytics-maintenance (*/10 * * * *)")
    elsewhere = choose_strategy(
        facts(cron_database="postgres", preload_libraries=("pg_cron",)), Requested.auto, Parameters()
    )
    assert not elsewhere.use_cron
    assert "pg_cron runs jobs in database postgres, not cryb" in elsewhere.maintenance


def test_a_role_that_cannot_read_settings_relies_on_what_is_installed() -> None:
    """Non-superusers cannot read shared_preload_libraries or cron.database_name (PostgreSQL hides them)."""
    owner = facts(can_create_extensions=False, preload_libraries=None, cron_database=None)
    installed = {"pg_partman": Extension("4.7.2", "partman"), "pg_cron": Extension("1.4-1", "pg_catalog")}
    with_cron = choose_strategy(facts(**{**owner.__dict__, "installed": installed}), Requested.auto, Parameters())
    assert (with_cron.strategy, with_cron.use_cron) == (Strategy.partman, True)
    without = choose_strategy(owner, Requested.auto, Parameters())
    assert (without.strategy, without.use_cron) == (Strategy.native, False)
    assert "pg_cron is not installed in cryb and role cryb_admin cannot create it" in without.maintenance


def test_timescaledb_wins_when_preloaded_and_its_jobs_do_the_maintenance() -> None:
    available = {**PG15_PARTMAN.available, "timescaledb": Extension("2.17.2")}
    choice = choose_strategy(
        facts(available=available, preload_libraries=("timescaledb", "pg_cron"), cron_database="cryb"),
        Requested.auto,
        Parameters(),
    )
    assert (choice.strategy, choice.use_cron, choice.maintenance) == (
        Strategy.timescaledb,
        False,
        "TimescaleDB background jobs",
    )
    not_preloaded = choose_strategy(facts(available=available), Requested.auto, Parameters())
    assert not_preloaded.strategy == Strategy.partman
    assert not_preloaded.reason.startswith("TimescaleDB is available but not in shared_preload_libraries")


def test_a_role_that_cannot_create_pg_partman_falls_back_to_native_partitioning() -> None:
    choice = choose_strategy(facts(can_create_extensions=False), Requested.auto, Parameters())
    assert choice.strategy == Strategy.native
    assert "pg_partman is available but not installed, and role cryb_admin cannot create it" in choice.reason
    assert "SELECT analytics.run_maintenance()" in choice.maintenance


def test_pg_partman_installed_by_a_superuser_is_used_when_the_role_has_the_grants() -> None:
    installed = {"pg_partman": Extension("4.7.2", "partman")}
    granted = facts(can_create_extensions=False, installed=installed)
    assert choose_strategy(granted, Requested.auto, Parameters()).strategy == Strategy.partman
    no_grants = facts(can_create_extensions=False, installed=installed, partman_privileges=False)
    with pytest.raises(MigrationError, match="lacks USAGE on schema partman"):
        choose_strategy(no_grants, Requested.partman, Parameters())
    with pytest.raises(MigrationError, match="pg_partman is installed but cannot be used: role cryb_admin lacks"):
        choose_strategy(no_grants, Requested.auto, Parameters())
    elsewhere = facts(installed={"pg_partman": Extension("5.2.4", "public")})
    with pytest.raises(MigrationError, match="installed in schema public, the migrations need schema partman"):
        choose_strategy(elsewhere, Requested.auto, Parameters())
    assert choose_strategy(elsewhere, Requested.native, Parameters()).strategy == Strategy.native


def test_an_impossible_request_is_refused_with_the_reason() -> None:
    with pytest.raises(MigrationError, match="strategy timescaledb cannot run on this server: TimescaleDB is not"):
        choose_strategy(facts(), Requested.timescaledb, Parameters())


def test_the_recorded_strategy_is_kept_and_a_different_request_refused() -> None:
    available = {**PG15_PARTMAN.available, "timescaledb": Extension("2.17.2")}
    later = facts(available=available, preload_libraries=("timescaledb",), recorded_strategy=Strategy.partman)
    kept = choose_strategy(later, Requested.auto, Parameters())
    assert kept.strategy == Strategy.partman
    assert kept.reason.startswith("kept partman, which built the existing analytics schema: ")
    with pytest.raises(MigrationError, match="strategy: native is not allowed: the analytics schema was built with"):
        choose_strategy(later, Requested.native, Parameters())


# -- parameters ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (Parameters(retention_days=0), "retention_days: 0 is not allowed (allowed: an integer from 1 to 3650)"),
        (Parameters(premake_days=91), "premake_days: 91 is not allowed (allowed: an integer from 1 to 90)"),
        (
            Parameters(retention_days=7, compress_after_days=7),
            "compress_after_days: 7 is not allowed (allowed: less than retention_days, 7;",
        ),
        (Parameters(cron_schedule="*/30 * * * * *"), "cron_schedule: '*/30 * * * * *' is not allowed (allowed: five"),
        (Parameters(cron_schedule="30 seconds"), "cron_schedule: '30 seconds' is not allowed"),
        (Parameters(cron_schedule="5 * * * *; drop"), "cron_schedule: '5 * * * *; drop' is not allowed"),
    ],
)
def test_bad_parameters_name_the_field_the_value_and_what_is_allowed(params: Parameters, message: str) -> None:
    with pytest.raises(MigrationError, match=re.escape(message)):
        params.validate()


def test_every_bad_parameter_is_reported_at_once() -> None:
    with pytest.raises(MigrationError) as caught:
        Parameters(retention_days=0, premake_days=0, cron_schedule="x").validate()
    assert [p in str(caught.value) for p in ("retention_days: 0", "premake_days: 0", "cron_schedule: 'x'")] == [
        True,
        True,
        True,
    ]


@pytest.mark.parametrize("schedule", ["5 * * * *", "*/15 * * * *", "0 3 * * 1-5", "0,30 1-6/2 * * *"])
def test_ordinary_cron_schedules_are_accepted(schedule: str) -> None:
    Parameters(cron_schedule=schedule).validate()


# -- connections and CLI ---------------------------------------------------------------------------------------------

OUTPUTS = {
    "outputs": {
        "selfhosted": {
            "clusters": [
                {
                    "name": "analytics",
                    "writerEndpoint": "writer.analytics.prod.cryb-db.internal",
                    "port": 5432,
                    "databaseName": "cryb",
                    "secretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:admin",
                }
            ]
        }
    }
}


def test_the_analytics_cluster_writer_and_its_admin_secret_make_the_connection() -> None:
    seen = []

    def reader(arn: str) -> dict[str, str]:
        seen.append(arn)
        return {"username": "cryb_admin", "password": "s3cret"}

    conninfo = conninfo_from_outputs(
        OUTPUTS, "analytics", credentials=Credentials.secret, sslmode="require", sslrootcert=None, secret_reader=reader
    )
    assert conninfo_to_dict(conninfo) == {
        "host": "writer.analytics.prod.cryb-db.internal",
        "port": "5432",
        "dbname": "cryb",
        "sslmode": "require",
        "user": "cryb_admin",
        "password": "s3cret",
    }
    assert seen == ["arn:aws:secretsmanager:us-east-1:111122223333:secret:admin"]


def test_an_unknown_cluster_is_refused_listing_the_clusters() -> None:
    refused = r"--cluster: 'events' is not in selfhosted.clusters \(allowed: analytics\)"
    with pytest.raises(MigrationError, match=refused):
        conninfo_from_outputs(OUTPUTS, "events", credentials=Credentials.env, sslmode="require", sslrootcert=None)


BAD_RETENTION = ("--retention-days", "5", "--compress-after-days", "9")


def test_bad_parameters_are_refused_before_connecting() -> None:
    """The DSN points nowhere: exit 2 with the parameter named proves nothing was attempted first."""
    result = CliRunner().invoke(
        analytics_app,
        ["migrate", "--dsn", "host=203.0.113.1 connect_timeout=1", *BAD_RETENTION],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "compress_after_days: 9 is not allowed (allowed: less than retention_days, 5" in result.output
    assert "connect" not in result.output


def test_dsn_and_outputs_together_are_refused(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    result = CliRunner().invoke(analytics_app, ["status", "--dsn", "host=x", "--outputs", str(outputs)])
    assert result.exit_code == 2
    assert "give either --outputs FILE or --dsn DSN" in result.output


def test_both_commands_exist() -> None:
    result = CliRunner().invoke(analytics_app, ["--help"])
    assert result.exit_code == 0
    assert "migrate" in result.output and "status" in result.output


def test_a_cluster_entry_without_connection_fields_is_refused_naming_them() -> None:
    entry = {"name": "analytics", "writerEndpoint": "writer", "port": 5432}
    with pytest.raises(MigrationError, match=r"selfhosted.clusters\[analytics\] has no databaseName, secretArn"):
        conninfo_from_outputs(
            {"selfhosted": {"clusters": [entry]}},
            "analytics",
            credentials=Credentials.env,
            sslmode="require",
            sslrootcert=None,
        )
