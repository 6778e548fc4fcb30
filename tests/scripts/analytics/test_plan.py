"""The plan (scripts/analytics/plan.py): what runs, in which order, and what is refused before anything runs."""

import shutil
from pathlib import Path

import pytest

from scripts.analytics.errors import MigrationError
from scripts.analytics.files import MIGRATIONS_DIR, checksum, discover
from scripts.analytics.history import Applied
from scripts.analytics.parameters import Parameters
from scripts.analytics.plan import plan, repeatable_checksum
from scripts.analytics.strategy import Strategy

SETTINGS = Parameters().settings(use_cron=False)


def copy_migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    return directory


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
