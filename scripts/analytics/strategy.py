"""Strategy detection, pure: which of TimescaleDB, pg_partman and native partitioning can run on a server (from its
facts), which one to use and why, and whether pg_cron can schedule the maintenance."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import MigrationError
from .history import HISTORY_TABLE, SCHEMA
from .parameters import Parameters

PARTMAN_SCHEMA = "partman"


CRON_JOB_NAME = "cryb-analytics-maintenance"


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
