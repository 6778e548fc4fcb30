"""Read a server's facts for strategy detection: version, role rights, preloaded libraries, installed and available
extensions, privileges, and the strategy already recorded in the history."""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow

from .errors import MigrationError
from .history import HISTORY_TABLE, SCHEMA, history_rows
from .strategy import Extension, ServerFacts, Strategy

FACTS_SQL = """
select current_database() as database, current_user as role, current_setting('server_version') as server_version,
       (select setting from pg_settings where name = 'shared_preload_libraries') as preload,
       (select setting from pg_settings where name = 'cron.database_name') as cron_database,
       (select rolsuper from pg_roles where rolname = current_user)
         or pg_has_role(current_user, 'pg_read_all_settings', 'member') as settings_visible,
       (select rolsuper from pg_roles where rolname = current_user)
         or coalesce((select pg_has_role(current_user, oid, 'member') from pg_roles where rolname = 'rds_superuser'),
                     false) as can_create
"""


INSTALLED_SQL = """
select e.extname as name, e.extversion as version, n.nspname as schema
  from pg_extension e join pg_namespace n on n.oid = e.extnamespace
 where e.extname in ('timescaledb', 'pg_partman', 'pg_cron')
"""


AVAILABLE_SQL = """
select name, default_version as version from pg_available_extensions
 where name in ('timescaledb', 'pg_partman', 'pg_cron')
"""


PARTMAN_PRIVILEGES_SQL = """
select has_schema_privilege(%(schema)s, 'USAGE')
   and has_table_privilege(format('%%I.part_config', %(schema)s::text), 'SELECT, INSERT, UPDATE') as ok
"""


def read_facts(conn: psycopg.Connection[DictRow]) -> ServerFacts:
    row = conn.execute(FACTS_SQL).fetchone()
    assert row is not None
    installed = {r["name"]: Extension(r["version"], r["schema"]) for r in conn.execute(INSTALLED_SQL)}
    available = {r["name"]: Extension(r["version"]) for r in conn.execute(AVAILABLE_SQL)}
    partman_ok = True
    if "pg_partman" in installed:
        partman_row = conn.execute(PARTMAN_PRIVILEGES_SQL, {"schema": installed["pg_partman"].schema}).fetchone()
        partman_ok = bool(partman_row and partman_row["ok"])
    cron_ok = True
    if "pg_cron" in installed:
        cron_row = conn.execute("select has_schema_privilege('cron', 'USAGE') as ok").fetchone()
        cron_ok = bool(cron_row and cron_row["ok"])
    recorded = None
    strategies = [r["strategy"] for r in history_rows(conn)]
    if strategies:
        recorded = Strategy(strategies[0])
        if any(s != recorded for s in strategies):
            raise MigrationError(f"{SCHEMA}.{HISTORY_TABLE} records several strategies: {sorted(set(strategies))}")
    return ServerFacts(
        database=row["database"],
        role=row["role"],
        server_version=row["server_version"],
        can_create_extensions=bool(row["can_create"]),
        preload_libraries=(
            tuple(lib.strip() for lib in (row["preload"] or "").split(",") if lib.strip())
            if row["settings_visible"]
            else None
        ),
        cron_database=row["cron_database"] or None,
        installed=installed,
        available=available,
        partman_privileges=partman_ok,
        cron_privileges=cron_ok,
        recorded_strategy=recorded,
    )
