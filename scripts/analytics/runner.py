"""`python -m scripts analytics`: versioned SQL migrations for the analytics events (docs/analytics.md).

Files in `scripts/migrations/analytics/`:

- `NNNN_<name>.sql` or `NNNN_<name>.<strategy>.sql`: versioned, applied once in version order, each in its own
  transaction, recorded in `analytics.schema_migrations` with the SHA-256 of the file; a recorded file that changed
  afterwards is refused (name, recorded and current checksum in the message).
- `R_<name>.sql` or `R_<name>.<strategy>.sql`: repeatable, applied after the versioned ones whenever the file or the
  parameters it reads change (retention, premake, compression, the pg_cron job).

A strategy is one of `timescaledb` (hypertables, compression and retention policies), `partman` (native range
partitioning by day maintained by pg_partman, with a pg_cron job where pg_cron runs in the database) or `native`
(the same partitioning maintained by `analytics.run_maintenance()`). Parameters reach the SQL as transaction-local
settings `cryb_analytics.<name>`, so the files stay plain SQL that can be checked on their own.

A session advisory lock serialises runners; the plan (checksums, order, strategy) is checked before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import psycopg
import typer
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scripts.health.targets import Credentials, read_rds_secret

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA = "analytics"
HISTORY_TABLE = "schema_migrations"
PARTMAN_SCHEMA = "partman"
CRON_JOB_NAME = "cryb-analytics-maintenance"
ADVISORY_LOCK_KEY = 7_236_543_210_042  # "analytics migrations"; any runner of this tool takes the same key
APPLICATION_NAME = "cryb-db-analytics-migrate"
CONNECT_TIMEOUT_SECONDS = 10
PARTITIONED_TABLES = ("analytics.user_events", "analytics.performance_metrics", "analytics.content_engagement")

EXIT_FAILED, EXIT_INVALID = 1, 2


class Strategy(StrEnum):
    timescaledb = "timescaledb"
    partman = "partman"
    native = "native"


class Requested(StrEnum):
    auto = "auto"
    timescaledb = "timescaledb"
    partman = "partman"
    native = "native"


PREFERENCE = (Strategy.timescaledb, Strategy.partman, Strategy.native)


class MigrationError(Exception):
    """Refused before anything ran (bad files, tampering, bad parameters, impossible strategy)."""


class MigrationRunError(Exception):
    """A migration raised; its transaction was rolled back and nothing of it was recorded."""

    def __init__(self, file: str, message: str, applied_before: Sequence[str]) -> None:
        super().__init__(f"{file} failed and was rolled back (nothing of it applied or recorded): {message}")
        self.file = file
        self.message = message
        self.applied_before = list(applied_before)


# -- parameters ------------------------------------------------------------------------------------------------------

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


@dataclass(frozen=True)
class Parameters:
    """What the SQL reads as `cryb_analytics.<name>`; validated before any connection."""

    retention_days: int = 90
    premake_days: int = 7
    compress_after_days: int = 7
    cron_schedule: str = "5 * * * *"

    LIMITS: ClassVar[dict[str, tuple[int, int]]] = {
        "retention_days": (1, 3650),
        "premake_days": (1, 90),
        "compress_after_days": (1, 3650),
    }

    def validate(self) -> None:
        """Every problem at once, each naming the field, the value and what is allowed."""
        problems = []
        for name, (low, high) in self.LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.append(f"{name}: {value!r} is not allowed (allowed: an integer from {low} to {high})")
        if not problems and self.compress_after_days >= self.retention_days:
            problems.append(
                f"compress_after_days: {self.compress_after_days} is not allowed (allowed: less than "
                f"retention_days, {self.retention_days}; chunks would be dropped before they are compressed)"
            )
        fields = self.cron_schedule.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            problems.append(
                f"cron_schedule: {self.cron_schedule!r} is not allowed (allowed: five cron fields of digits, "
                "'*', '-', ',' and '/', e.g. '5 * * * *'; pg_cron 1.4 has no seconds)"
            )
        if problems:
            raise MigrationError("invalid parameters: " + "; ".join(problems))

    def settings(self, use_cron: bool, partman_version: str | None = None) -> dict[str, str]:
        """The `cryb_analytics.*` settings the SQL reads (and the repeatable migrations' checksums cover)."""
        major = partman_version.split(".", 1)[0] if partman_version else "0"
        return {
            "retention_days": str(self.retention_days),
            "premake_days": str(self.premake_days),
            "compress_after_days": str(self.compress_after_days),
            "cron_schedule": self.cron_schedule,
            "use_cron": "on" if use_cron else "off",
            "partman_major": major if major.isdigit() else "0",
        }


# -- files -----------------------------------------------------------------------------------------------------------

_VERSIONED = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<strategy>[a-z]+))?\.sql$")
_REPEATABLE = re.compile(r"^R_(?P<name>[a-z0-9_]+)(?:\.(?P<strategy>[a-z]+))?\.sql$")


def checksum(text: str) -> str:
    """SHA-256 of the file's text with line endings normalised (a checkout with CRLF is not a change)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode()).hexdigest()


@dataclass(frozen=True)
class MigrationFile:
    path: Path
    sql: str = field(repr=False)
    checksum: str


@dataclass(frozen=True)
class Migration:
    version: str
    """`0001`... for versioned migrations, `R_<name>` for repeatable ones."""
    name: str
    repeatable: bool
    files: Mapping[Strategy | None, MigrationFile]
    """None: one file for every strategy; else one file per strategy."""

    def file_for(self, strategy: Strategy) -> MigrationFile:
        return self.files[None] if None in self.files else self.files[strategy]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`: versioned in version order, then repeatable by name. Bad names, duplicate
    versions and versions with a file for some strategies but not all are refused, naming the files."""
    grouped: dict[str, dict[Strategy | None, MigrationFile]] = {}
    names: dict[str, str] = {}
    problems = []
    for path in sorted(directory.glob("*.sql")):
        match = _VERSIONED.match(path.name) or _REPEATABLE.match(path.name)
        if match is None:
            problems.append(f"{path.name}: not a migration name (NNNN_name[.strategy].sql or R_name[.strategy].sql)")
            continue
        raw = match.group("strategy")
        if raw is not None and raw not in Strategy.__members__:
            problems.append(f"{path.name}: unknown strategy {raw!r} (allowed: {', '.join(Strategy)})")
            continue
        strategy = Strategy(raw) if raw else None
        repeatable = path.name.startswith("R_")
        version = f"R_{match.group('name')}" if repeatable else match.group("version")
        if names.setdefault(version, match.group("name")) != match.group("name"):
            problems.append(f"{path.name}: version {version} is also used by {names[version]!r}")
            continue
        text = path.read_text()
        grouped.setdefault(version, {})[strategy] = MigrationFile(path, text, checksum(text))
    migrations = []
    for version, files in grouped.items():
        if None in files and len(files) > 1:
            problems.append(f"version {version}: a common file and strategy files ({', '.join(map(str, files))})")
        elif None not in files and set(files) != set(Strategy):
            missing = sorted(set(Strategy) - set(files))
            problems.append(f"version {version} ({names[version]}): no file for strategy {', '.join(missing)}")
        migrations.append(Migration(version, names[version], version.startswith("R_"), files))
    if problems:
        raise MigrationError(f"{directory}: " + "; ".join(problems))
    return sorted(migrations, key=lambda m: (m.repeatable, m.version))


# -- server facts and the strategy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extension:
    version: str
    schema: str | None = None
    """None: available, not installed."""


@dataclass(frozen=True)
class ServerFacts:
    database: str
    role: str
    server_version: str
    can_create_extensions: bool
    """superuser, or a member of rds_superuser (RDS)."""
    preload_libraries: tuple[str, ...] | None = ()
    """None: the role may not read it (superuser or pg_read_all_settings only)."""
    cron_database: str | None = None
    """`cron.database_name` when pg_cron is loaded and the role may read settings, else None."""
    installed: Mapping[str, Extension] = field(default_factory=dict)
    available: Mapping[str, Extension] = field(default_factory=dict)
    partman_privileges: bool = True
    """USAGE on the partman schema and write access to partman.part_config (when installed)."""
    cron_privileges: bool = True
    recorded_strategy: Strategy | None = None


@dataclass(frozen=True)
class Choice:
    strategy: Strategy
    reason: str
    maintenance: str
    use_cron: bool
    partman_version: str | None = None
    rejected: Mapping[str, str] = field(default_factory=dict)
    """strategy -> why it was not usable."""


def _version_of(facts: ServerFacts, name: str) -> str | None:
    found = facts.installed.get(name) or facts.available.get(name)
    return found.version if found else None


def unusable_reasons(facts: ServerFacts) -> dict[Strategy, str]:
    """Why each strategy cannot run on this server (absent: usable)."""
    reasons: dict[Strategy, str] = {}
    timescale = "timescaledb"
    if timescale not in facts.installed:
        if timescale not in facts.available:
            reasons[Strategy.timescaledb] = "TimescaleDB is not available on this server"
        elif not facts.can_create_extensions:
            reasons[Strategy.timescaledb] = (
                f"TimescaleDB is available but not installed, and role {facts.role} cannot create it"
            )
        elif facts.preload_libraries is not None and timescale not in facts.preload_libraries:
            reasons[Strategy.timescaledb] = "TimescaleDB is available but not in shared_preload_libraries"
    partman = facts.installed.get("pg_partman")
    if partman is not None:
        if partman.schema != PARTMAN_SCHEMA:
            reasons[Strategy.partman] = (
                f"pg_partman is installed in schema {partman.schema}, the migrations need schema {PARTMAN_SCHEMA}"
            )
        elif not facts.partman_privileges:
            reasons[Strategy.partman] = (
                f"role {facts.role} lacks USAGE on schema partman or INSERT/UPDATE on partman.part_config "
                "(GRANT ALL ON SCHEMA partman, ALL TABLES IN SCHEMA partman, EXECUTE ON ALL FUNCTIONS and "
                "PROCEDURES IN SCHEMA partman)"
            )
    elif "pg_partman" not in facts.available:
        reasons[Strategy.partman] = "pg_partman is not available on this server"
    elif not facts.can_create_extensions:
        reasons[Strategy.partman] = (
            f"pg_partman is available but not installed, and role {facts.role} cannot create it "
            "(a superuser or rds_superuser: CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman)"
        )
    return reasons


def cron_usable(facts: ServerFacts) -> tuple[bool, str]:
    """(pg_cron can schedule the maintenance job here, why not). pg_cron can only be created in the database named
    by `cron.database_name`, so an installed pg_cron means this is that database."""
    if "pg_cron" in facts.installed:
        return (True, "") if facts.cron_privileges else (False, f"role {facts.role} lacks USAGE on schema cron")
    if not facts.can_create_extensions:
        return False, f"pg_cron is not installed in {facts.database} and role {facts.role} cannot create it"
    if facts.preload_libraries is not None and "pg_cron" not in facts.preload_libraries:
        return False, "pg_cron is not loaded (shared_preload_libraries)"
    if facts.cron_database is None:
        return False, "pg_cron is not loaded or cron.database_name is not readable by this role"
    if facts.cron_database != facts.database:
        return False, f"pg_cron runs jobs in database {facts.cron_database}, not {facts.database}"
    return True, ""


def choose_strategy(facts: ServerFacts, requested: Requested, params: Parameters) -> Choice:
    """The strategy to use and why. `auto` keeps a recorded strategy and otherwise prefers TimescaleDB, then
    pg_partman, then native partitioning. An explicit request that cannot be met is an error, and so is one
    that differs from the strategy the schema was built with."""
    reasons = unusable_reasons(facts)
    rejected = {str(s): reasons[s] for s in PREFERENCE if s in reasons}
    recorded = facts.recorded_strategy
    if recorded is not None and requested not in (Requested.auto, recorded):
        raise MigrationError(
            f"strategy: {requested} is not allowed: the analytics schema was built with {recorded} "
            f"(recorded in {SCHEMA}.{HISTORY_TABLE}); converting is not supported (allowed: auto or {recorded})"
        )
    if recorded is not None:
        strategy = recorded
        why = f"kept {recorded}, which built the existing analytics schema"
    elif requested != Requested.auto:
        strategy = Strategy(requested.value)
        why = f"{strategy} requested"
    else:
        strategy = next(s for s in PREFERENCE if s not in reasons)
        if "pg_partman" in facts.installed and strategy == Strategy.native:
            # Installed means someone meant it: fix the schema or grants rather than silently partition without it.
            raise MigrationError(
                f"pg_partman is installed but cannot be used: {reasons[Strategy.partman]} "
                "(or pass --strategy native to partition without it)"
            )
        why = "; ".join(reasons[s] for s in PREFERENCE[: PREFERENCE.index(strategy)])
    if strategy in reasons:
        raise MigrationError(f"strategy {strategy} cannot run on this server: {reasons[strategy]}")

    cron, cron_why = cron_usable(facts)
    partman_version = _version_of(facts, "pg_partman") if strategy == Strategy.partman else None
    if strategy == Strategy.timescaledb:
        what = "TimescaleDB hypertables (1-day chunks), compression and retention policies"
        maintenance = "TimescaleDB background jobs"
        cron = False
    else:
        what = (
            f"native range partitioning by day with pg_partman {partman_version}"
            if strategy == Strategy.partman
            else "native range partitioning by day with analytics.run_maintenance()"
        )
        job = (
            "CALL partman.run_maintenance_proc()"
            if strategy == Strategy.partman
            else "SELECT analytics.run_maintenance()"
        )
        maintenance = (
            f"pg_cron job {CRON_JOB_NAME} ({params.cron_schedule})"
            if cron
            else f"external: {cron_why}; schedule {job} at least hourly"
        )
    reason = f"{why}: {what}" if why else what
    return Choice(strategy, reason, maintenance, cron, partman_version, rejected)


# -- plan ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    version: str
    name: str
    checksum: str
    strategy: str
    applied_at: Any = None
    params: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Step:
    migration: Migration
    file: MigrationFile
    checksum: str
    """What is recorded: the file's checksum, or for repeatable migrations that of file and parameters."""
    reason: str

    @property
    def label(self) -> str:
        return self.file.path.name


def repeatable_checksum(file: MigrationFile, settings: Mapping[str, str]) -> str:
    return checksum(file.checksum + json.dumps(dict(sorted(settings.items()))))


def plan(
    migrations: Sequence[Migration],
    applied: Mapping[str, Applied],
    strategy: Strategy,
    settings: Mapping[str, str],
) -> list[Step]:
    """What to run, in order. Refused (MigrationError, nothing run): an applied file that changed, an applied
    version with no file, and a pending versioned migration older than an applied one."""
    known = {m.version for m in migrations}
    problems = [
        f"version {v} ({applied[v].name}) is recorded as applied but has no file in {MIGRATIONS_DIR.name}/"
        for v in sorted(applied)
        if v not in known
    ]
    steps: list[Step] = []
    newest_applied = max((v for v in applied if not v.startswith("R_")), default="")
    for migration in migrations:
        file = migration.file_for(strategy)
        record = applied.get(migration.version)
        if migration.repeatable:
            wanted = repeatable_checksum(file, settings)
            if record is None:
                steps.append(Step(migration, file, wanted, "not applied yet"))
            elif record.checksum != wanted:
                steps.append(Step(migration, file, wanted, "file or parameters changed since it was applied"))
            continue
        if record is not None:
            if record.checksum != file.checksum:
                problems.append(
                    f"{file.path.name} was changed after it was applied (recorded checksum {record.checksum[:12]}, "
                    f"file {file.checksum[:12]}): restore it and put the change in a new migration"
                )
            continue
        if migration.version < newest_applied:
            problems.append(
                f"{file.path.name} is not applied but the newer version {newest_applied} is: "
                "out-of-order migrations are refused (renumber it after the newest)"
            )
            continue
        steps.append(Step(migration, file, file.checksum, "not applied yet"))
    if problems:
        raise MigrationError("; ".join(problems))
    return steps


# -- database --------------------------------------------------------------------------------------------------------

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
HISTORY_EXISTS_SQL = "select to_regclass(%(name)s) is not null as exists"
HISTORY_DDL = f"""
create schema if not exists {SCHEMA};
create table if not exists {SCHEMA}.{HISTORY_TABLE} (
    version      text        primary key,
    name         text        not null,
    kind         text        not null check (kind in ('versioned', 'repeatable')),
    strategy     text        not null check (strategy in ('timescaledb', 'partman', 'native')),
    checksum     text        not null,
    params       jsonb       not null default '{{}}',
    applied_at   timestamptz not null default now(),
    applied_by   text        not null default current_user,
    execution_ms integer     not null
);
comment on table {SCHEMA}.{HISTORY_TABLE} is 'Applied analytics migrations (python -m scripts analytics migrate)';
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
    strategies = [r["strategy"] for r in _history_rows(conn)]
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


def _history_rows(conn: psycopg.Connection[DictRow]) -> list[DictRow]:
    exists = conn.execute(HISTORY_EXISTS_SQL, {"name": f"{SCHEMA}.{HISTORY_TABLE}"}).fetchone()
    if not exists or not exists["exists"]:
        return []
    return conn.execute(f"select * from {SCHEMA}.{HISTORY_TABLE} order by kind desc, version").fetchall()


def read_applied(conn: psycopg.Connection[DictRow]) -> dict[str, Applied]:
    return {
        r["version"]: Applied(r["version"], r["name"], r["checksum"], r["strategy"], r["applied_at"], r["params"])
        for r in _history_rows(conn)
    }


def acquire_lock(conn: psycopg.Connection[DictRow], wait_seconds: float) -> None:
    """The session advisory lock every runner takes; refuse with the holder's pid after `wait_seconds`."""
    deadline = time.monotonic() + wait_seconds
    while True:
        row = conn.execute("select pg_try_advisory_lock(%s) as ok", (ADVISORY_LOCK_KEY,)).fetchone()
        if row and row["ok"]:
            return
        if time.monotonic() >= deadline:
            holder = conn.execute(
                "select pid from pg_locks where locktype = 'advisory' and granted "
                "and ((classid::bigint << 32) | objid::bigint) = %s limit 1",
                (ADVISORY_LOCK_KEY,),
            ).fetchone()
            pid = holder["pid"] if holder else "unknown"
            raise MigrationError(f"another migration run holds the analytics migration lock (backend pid {pid})")
        time.sleep(0.2)


def release_lock(conn: psycopg.Connection[DictRow]) -> None:
    """Best effort: a broken connection released it already (session locks end with the session)."""
    if conn.closed:
        return
    try:
        conn.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    except psycopg.Error:
        pass


@dataclass
class Outcome:
    strategy: str
    reason: str
    maintenance: str
    dry_run: bool
    database: str
    server_version: str
    planned: list[str]
    applied: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    partitions: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        return asdict(self)


def apply_step(
    conn: psycopg.Connection[DictRow], step: Step, strategy: Strategy, settings: Mapping[str, str], lock_timeout: str
) -> int:
    """Run one migration and record it in one transaction; returns milliseconds. Any error rolls back both."""
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("set local timezone = 'UTC'")
        conn.execute("select set_config('lock_timeout', %s, true)", (lock_timeout,))
        for name, value in settings.items():
            conn.execute("select set_config(%s, %s, true)", (f"cryb_analytics.{name}", value))
        conn.execute(step.file.sql.encode())  # no parameters: the simple protocol runs every statement
        elapsed = int((time.perf_counter() - started) * 1000)
        conn.execute(
            sql.SQL(
                "insert into {}.{} (version, name, kind, strategy, checksum, params, execution_ms) "
                "values (%s, %s, %s, %s, %s, %s, %s) on conflict (version) do update set "
                "checksum = excluded.checksum, params = excluded.params, applied_at = now(), "
                "applied_by = current_user, execution_ms = excluded.execution_ms"
            ).format(sql.Identifier(SCHEMA), sql.Identifier(HISTORY_TABLE)),
            (
                step.migration.version,
                step.migration.name,
                "repeatable" if step.migration.repeatable else "versioned",
                str(strategy),
                step.checksum,
                json.dumps(dict(settings) if step.migration.repeatable else {}),
                elapsed,
            ),
        )
    return elapsed


def partition_counts(conn: psycopg.Connection[DictRow]) -> dict[str, int]:
    rows = conn.execute(
        "select p.oid::regclass::text as parent, count(i.inhrelid)::int as children from pg_class p "
        "left join pg_inherits i on i.inhparent = p.oid "
        "where p.oid = any(array[%s, %s, %s]::text[]::regclass[]) group by p.oid",
        PARTITIONED_TABLES,
    ).fetchall()
    return {r["parent"]: r["children"] for r in rows}


def migrate(
    conn: psycopg.Connection[DictRow],
    *,
    params: Parameters = Parameters(),
    requested: Requested = Requested.auto,
    dry_run: bool = False,
    directory: Path = MIGRATIONS_DIR,
    lock_wait_seconds: float = 60.0,
    lock_timeout: str = "30s",
    on_step: Callable[[Step, str], None] | None = None,
) -> Outcome:
    """Apply what is pending (or, with `dry_run`, only plan it). `conn` must be in autocommit mode.

    Everything that can be refused (parameters, files, checksums, order, strategy) is refused before the first
    migration runs. A failing migration raises MigrationRunError; the ones before it stay applied and recorded."""
    params.validate()
    migrations = discover(directory)
    if dry_run:
        return _plan_only(conn, migrations, params, requested)
    acquire_lock(conn, lock_wait_seconds)
    try:
        facts = read_facts(conn)  # after the lock: a concurrent runner may just have recorded a strategy
        choice = choose_strategy(facts, requested, params)
        settings = params.settings(choice.use_cron, choice.partman_version)
        conn.execute(HISTORY_DDL.encode())
        steps = plan(migrations, read_applied(conn), choice.strategy, settings)
        outcome = _outcome(facts, choice, steps, migrations, dry_run=False)
        done: list[str] = []
        for step in steps:
            if on_step:
                on_step(step, "start")
            try:
                elapsed = apply_step(conn, step, choice.strategy, settings, lock_timeout)
            except psycopg.Error as error:
                raise MigrationRunError(step.label, _describe(error), done) from error
            done.append(step.label)
            outcome.applied.append({"file": step.label, "reason": step.reason, "ms": elapsed})
            if on_step:
                on_step(step, "done")
        if choice.strategy != Strategy.timescaledb:
            outcome.partitions = partition_counts(conn)
        return outcome
    finally:
        release_lock(conn)


def _plan_only(
    conn: psycopg.Connection[DictRow], migrations: Sequence[Migration], params: Parameters, requested: Requested
) -> Outcome:
    facts = read_facts(conn)
    choice = choose_strategy(facts, requested, params)
    settings = params.settings(choice.use_cron, choice.partman_version)
    steps = plan(migrations, read_applied(conn), choice.strategy, settings)
    return _outcome(facts, choice, steps, migrations, dry_run=True)


def _outcome(
    facts: ServerFacts, choice: Choice, steps: Sequence[Step], migrations: Sequence[Migration], *, dry_run: bool
) -> Outcome:
    return Outcome(
        strategy=str(choice.strategy),
        reason=choice.reason,
        maintenance=choice.maintenance,
        dry_run=dry_run,
        database=facts.database,
        server_version=facts.server_version,
        planned=[f"{s.label} ({s.reason})" for s in steps],
        skipped=len(migrations) - len(steps),
        rejected=dict(choice.rejected),
    )


def _describe(error: psycopg.Error) -> str:
    diag = error.diag
    parts = [f"{diag.sqlstate or ''} {diag.message_primary or str(error).strip()}".strip()]
    if diag.context:
        parts.append(f"context: {diag.context.strip().splitlines()[0]}")
    return "; ".join(parts)


def status(conn: psycopg.Connection[DictRow], directory: Path = MIGRATIONS_DIR) -> dict[str, Any]:
    """Applied migrations and, per file of the recorded strategy, whether it is pending or changed. Read only."""
    migrations = discover(directory)
    applied = read_applied(conn)
    recorded = {a.strategy for a in applied.values()}
    strategy = Strategy(recorded.pop()) if len(recorded) == 1 else None
    rows = []
    for migration in migrations:
        record = applied.get(migration.version)
        file = migration.file_for(strategy) if strategy else None
        if record is None:
            state = "pending"
        elif migration.repeatable:
            state = "applied"
        else:
            state = "applied" if file is None or file.checksum == record.checksum else "changed since applied"
        rows.append(
            {
                "version": migration.version,
                "name": migration.name,
                "file": file.path.name if file else None,
                "state": state,
                "strategy": record.strategy if record else None,
                "applied_at": record.applied_at.isoformat() if record and record.applied_at else None,
                "checksum": record.checksum[:12] if record else None,
                "params": dict(record.params) if record and record.params else None,
            }
        )
    known = {m.version for m in migrations}
    rows += [
        {"version": v, "name": a.name, "file": None, "state": "applied, no file", "strategy": a.strategy,
         "applied_at": a.applied_at.isoformat() if a.applied_at else None, "checksum": a.checksum[:12],
         "params": dict(a.params) if a.params else None}
        for v, a in sorted(applied.items()) if v not in known
    ]  # fmt: skip
    return {"database": conn.info.dbname, "strategy": str(strategy) if strategy else None, "migrations": rows}


# -- connections -----------------------------------------------------------------------------------------------------


def conninfo_from_outputs(
    outputs: Mapping[str, Any],
    cluster: str,
    *,
    credentials: Credentials,
    sslmode: str,
    sslrootcert: Path | None,
    secret_reader: Callable[[str], dict[str, str]] = read_rds_secret,
) -> str:
    """libpq conninfo of the writer of `selfhosted.clusters[]` entry `cluster` (`pulumi stack output --json`)."""
    if "selfhosted" not in outputs and isinstance(outputs.get("outputs"), Mapping):
        outputs = outputs["outputs"]
    try:
        clusters = list(outputs["selfhosted"]["clusters"])
    except (KeyError, TypeError):
        raise MigrationError(
            "--outputs: no selfhosted.clusters in the outputs file (pulumi stack output --json)"
        ) from None
    names = [str(c.get("name")) for c in clusters]
    entry = next((c for c in clusters if c.get("name") == cluster), None)
    if entry is None:
        raise MigrationError(f"--cluster: {cluster!r} is not in selfhosted.clusters (allowed: {', '.join(names)})")
    missing = [k for k in ("writerEndpoint", "port", "databaseName", "secretArn") if k not in entry]
    if missing:
        raise MigrationError(f"--outputs: selfhosted.clusters[{cluster}] has no {', '.join(missing)}")
    params: dict[str, Any] = {
        "host": entry["writerEndpoint"],
        "port": int(entry["port"]),
        "dbname": entry["databaseName"],
        "sslmode": sslmode,
    }
    if sslrootcert is not None:
        params["sslrootcert"] = str(sslrootcert)
    if credentials == Credentials.secret:
        secret = secret_reader(entry["secretArn"])
        params |= {"user": secret["username"], "password": secret["password"]}
    return make_conninfo(**params)


def connect(conninfo: str) -> psycopg.Connection[DictRow]:
    return psycopg.Connection[DictRow].connect(
        conninfo,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name=APPLICATION_NAME,
        row_factory=dict_row,
    )


def _label(conninfo: str) -> str:
    p = conninfo_to_dict(conninfo)
    return f"{p.get('host', 'local')}:{p.get('port', 5432)}/{p.get('dbname', '')}"


# -- CLI -------------------------------------------------------------------------------------------------------------

analytics_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Analytics events schema: versioned migrations (TimescaleDB, or pg_partman/native partitioning).",
)
err = Console(stderr=True)

OutputsOption = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        exists=True,
        dir_okay=False,
        help="`pulumi stack output --json`: connects to the writer of selfhosted.clusters[] named --cluster.",
    ),
]
DsnOption = Annotated[
    str | None,
    typer.Option(help="libpq DSN of the analytics database (prefer PGPASSWORD/.pgpass to a password in it)."),
]
ClusterOption = Annotated[str, typer.Option(help="With --outputs: the selfhosted.clusters[] entry.")]
CredentialsOption = Annotated[
    Credentials,
    typer.Option(help="With --outputs: `secret` reads the cluster's admin secret; `env` uses PGUSER etc."),
]
SslmodeOption = Annotated[
    str | None,
    typer.Option(help="libpq sslmode; with --outputs default verify-full with --sslrootcert, else require."),
]
SslrootcertOption = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="CA bundle of the cluster's certificate.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _conninfo(
    outputs: Path | None,
    dsn: str | None,
    cluster: str,
    credentials: Credentials,
    sslmode: str | None,
    sslrootcert: Path | None,
) -> str:
    if (outputs is None) == (dsn is None):
        raise typer.BadParameter("give either --outputs FILE or --dsn DSN")
    if dsn is not None:
        return make_conninfo(dsn, sslmode=sslmode) if sslmode else dsn
    assert outputs is not None
    try:
        document = json.loads(outputs.read_text())
    except ValueError:
        raise typer.BadParameter(f"{outputs} is not JSON", param_hint="--outputs") from None
    mode = sslmode or ("verify-full" if sslrootcert else "require")
    return conninfo_from_outputs(
        document, cluster, credentials=credentials, sslmode=mode, sslrootcert=sslrootcert
    )


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@analytics_app.command("migrate")
def migrate_command(
    outputs: OutputsOption = None,
    dsn: DsnOption = None,
    cluster: ClusterOption = "analytics",
    credentials: CredentialsOption = Credentials.secret,
    sslmode: SslmodeOption = None,
    sslrootcert: SslrootcertOption = None,
    strategy: Annotated[
        Requested, typer.Option(help="auto: TimescaleDB if usable, else pg_partman, else native partitioning.")
    ] = Requested.auto,
    retention_days: Annotated[int, typer.Option(help="Days of events kept (1-3650).")] = Parameters.retention_days,
    premake_days: Annotated[
        int, typer.Option(help="Daily partitions created ahead (1-90; partman/native).")
    ] = Parameters.premake_days,
    compress_after_days: Annotated[
        int, typer.Option(help="Compress chunks older than this (TimescaleDB; less than --retention-days).")
    ] = Parameters.compress_after_days,
    cron_schedule: Annotated[
        str, typer.Option(help="pg_cron schedule of the partition maintenance (five fields).")
    ] = Parameters.cron_schedule,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the strategy and the plan; change nothing.")
    ] = False,
    lock_wait: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for another runner's migration lock.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Apply the pending analytics migrations, each in its own transaction, and say which strategy was used.

    Exit codes: 0 done (or nothing to do), 1 a migration failed (rolled back) or no connection, 2 refused before
    any change (bad parameters, changed or missing files, impossible strategy)."""
    params = Parameters(retention_days, premake_days, compress_after_days, cron_schedule)
    try:
        params.validate()
        conninfo = _conninfo(outputs, dsn, cluster, credentials, sslmode, sslrootcert)
    except MigrationError as error:
        raise _fail(str(error), EXIT_INVALID) from None
    try:
        conn = connect(conninfo)
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0]
        raise _fail(f"cannot connect to {_label(conninfo)}: {first_line}", EXIT_FAILED) from None
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True, disable=as_json or not err.is_terminal,
    )  # fmt: skip
    task = progress.add_task("migrating", total=None)

    def on_step(step: Step, phase: str) -> None:
        if phase == "start":
            progress.update(task, description=f"applying {step.label}")
        else:
            progress.advance(task)
            if not as_json:
                err.print(f"applied {step.label}", highlight=False)

    try:
        with conn, progress:
            outcome = migrate(
                conn, params=params, requested=strategy, dry_run=dry_run, lock_wait_seconds=lock_wait,
                on_step=on_step,
            )  # fmt: skip
    except MigrationError as error:
        if as_json:
            sys.stdout.write(json.dumps({"error": str(error), "refused": True}) + "\n")
        raise _fail(str(error), EXIT_INVALID) from None
    except MigrationRunError as error:
        if as_json:
            document = {"error": str(error), "file": error.file, "applied": error.applied_before}
            sys.stdout.write(json.dumps(document) + "\n")
        raise _fail(str(error), EXIT_FAILED) from None
    except psycopg.Error as error:
        raise _fail(f"{_label(conninfo)}: {str(error).strip().splitlines()[0]}", EXIT_FAILED) from None
    if as_json:
        sys.stdout.write(json.dumps(outcome.document, indent=2, default=str) + "\n")
        return
    _render_outcome(Console(), outcome)


def _render_outcome(console: Console, outcome: Outcome) -> None:
    console.print(f"database: {outcome.database} (PostgreSQL {outcome.server_version})", highlight=False)
    console.print(f"strategy: [bold]{outcome.strategy}[/] - {outcome.reason}", highlight=False)
    console.print(f"maintenance: {outcome.maintenance}", highlight=False)
    if outcome.dry_run:
        if outcome.planned:
            console.print(f"dry run: would apply {len(outcome.planned)} (already applied: {outcome.skipped})")
            for line in outcome.planned:
                console.print(f"  {line}", highlight=False)
        else:
            console.print("dry run: nothing to apply")
        return
    if outcome.applied:
        console.print(f"applied {len(outcome.applied)}, already applied {outcome.skipped}")
    else:
        console.print(f"nothing to apply ({outcome.skipped} already applied)")
    for parent, children in sorted(outcome.partitions.items()):
        console.print(f"  {parent}: {children} partitions", highlight=False)


@analytics_app.command("status")
def status_command(
    outputs: OutputsOption = None,
    dsn: DsnOption = None,
    cluster: ClusterOption = "analytics",
    credentials: CredentialsOption = Credentials.secret,
    sslmode: SslmodeOption = None,
    sslrootcert: SslrootcertOption = None,
    as_json: JsonOption = False,
) -> None:
    """List applied and pending analytics migrations (read only). Exit 1 when a recorded file changed."""
    try:
        conninfo = _conninfo(outputs, dsn, cluster, credentials, sslmode, sslrootcert)
        with connect(conninfo) as conn:
            document = status(conn)
    except MigrationError as error:
        raise _fail(str(error), EXIT_INVALID) from None
    except psycopg.Error as error:
        raise _fail(f"{str(error).strip().splitlines()[0]}", EXIT_FAILED) from None
    changed = any(r["state"] != "applied" and r["state"] != "pending" for r in document["migrations"])
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    else:
        _render_status(Console(), document)
    if changed:
        raise typer.Exit(EXIT_FAILED)


def _render_status(console: Console, document: Mapping[str, Any]) -> None:
    console.print(f"database: {document['database']}, strategy: {document['strategy'] or 'none yet'}")
    table = Table(title="Analytics migrations")
    for column in ("version", "name", "file", "state", "applied at", "checksum"):
        table.add_column(column)
    for row in document["migrations"]:
        style = {"applied": "green", "pending": "yellow"}.get(row["state"], "bold red")
        table.add_row(
            row["version"], row["name"], row["file"] or "", f"[{style}]{row['state']}[/]",
            row["applied_at"] or "", row["checksum"] or "",
        )  # fmt: skip
    console.print(table)
