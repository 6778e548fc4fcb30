"""The migration files (scripts/analytics/files.py): names, order, completeness per strategy, checksums, and
the checksums live databases have recorded."""

import hashlib
import re
from pathlib import Path

import pytest

from scripts.analytics.errors import MigrationError
from scripts.analytics.files import MIGRATIONS_DIR, checksum, discover
from scripts.analytics.strategy import Strategy


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


# SHA-256 of each shipped file, byte for byte. Live databases record these checksums in
# analytics.schema_migrations and refuse a changed file: a change belongs in a new migration, never in these.
RECORDED = {
    "0001_backend.native.sql": "5693cdbe5c0da67adca08b5175a0927ea18e37384688b949c77ecc03d3a38b43",
    "0001_backend.partman.sql": "13c24d3115d49cc2846461302e63214d278d624fc47378a8c454ac8df272b768",
    "0001_backend.timescaledb.sql": "f9642219a98dc7e1430b5fae8b1ad5fd1b90617a953d5c97c746a71b4d011952",
    "0002_event_tables.native.sql": "53f7d9535b35690a846d296a1fdb997a9a4c8cb44af818e95bbcd52464f374a7",
    "0002_event_tables.partman.sql": "7c0fb184980859b51d3f72e50be45b2e6dd9ae884f1689fc671bad4af93ebc4c",
    "0002_event_tables.timescaledb.sql": "7ce3543a9c268a3678b58a30d809e8460b146635e6a1bea02cd7b522a6e55553",
    "R_policies.native.sql": "5c1c291217bdc28fd810416e143ce65b065085b04dbaf3e07b9b1b404526b029",
    "R_policies.partman.sql": "cd13c04456f56477c93751b7972e431531998b81981bd236c9a46631f59b1f0a",
    "R_policies.timescaledb.sql": "6a73ad05474f138bd074a23941b378f40ffbc1f9ba3d1a88e294dcd712927612",
}


def test_the_shipped_files_keep_the_checksums_live_databases_recorded() -> None:
    shipped = {path.name: path for path in MIGRATIONS_DIR.glob("*.sql")}
    assert set(RECORDED) <= set(shipped), "an applied migration file is gone"
    for name, recorded in RECORDED.items():
        assert hashlib.sha256(shipped[name].read_bytes()).hexdigest() == recorded, f"{name} changed"
        assert checksum(shipped[name].read_text()) == recorded
