"""Connect to a shard's writer and readers (retrying transient failures) and run the queries into a sample; an
unreachable server is recorded, not raised. Passwords never reach an error message."""

import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .queries import (
    ACTIVITY_SQL,
    BUFFER_CACHE_SQL,
    DATABASE_SIZE_SQL,
    LOCK_WAITS_SQL,
    READER_SQL,
    REPLICAS_SQL,
    SERVER_SQL,
    SLOTS_SQL,
    STATEMENTS_INSTALLED_SQL,
    TABLES_SQL,
    TOP_STATEMENTS_SQL,
    UNUSED_INDEXES_SQL,
    XID_AGE_SQL,
)
from .samples import (
    IndexRow,
    LockWaitRow,
    ReaderRow,
    ReplicaRow,
    SessionRow,
    ShardSample,
    SlotRow,
    StatementRow,
    TableRow,
)
from .targets import Endpoint, ShardTarget
from .thresholds import Thresholds

APPLICATION_NAME = "cryb-db-health"


CONNECT_TIMEOUT_SECONDS = 5


STATEMENT_TIMEOUT_MS = 15_000


def _scrub(text: str, *secrets: str) -> str:
    """First line of an error, with any secret blanked (libpq messages do not carry passwords; belt and braces)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    for secret in secrets:
        if secret:
            line = line.replace(secret, "***")
    return re.sub(r"password=\S+", "password=***", line)


def connect(endpoint: Endpoint, attempts: int) -> psycopg.Connection[DictRow]:
    """Retry transient connection failures (a replica restarting, a failover in flight) with backoff."""
    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=4),
        retry=retry_if_exception_type(psycopg.OperationalError),
        reraise=True,
    ):
        with attempt:
            return psycopg.Connection[DictRow].connect(
                endpoint.conninfo,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                application_name=APPLICATION_NAME,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                row_factory=dict_row,
            )
    raise AssertionError("unreachable: tenacity reraises the last error")


def _rows(conn: psycopg.Connection[DictRow], sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
    return conn.execute(sql.encode(), params).fetchall()


def _statements(conn: psycopg.Connection[DictRow], limit: int) -> tuple[list[StatementRow] | None, str]:
    database = conn.info.dbname
    if not _rows(conn, STATEMENTS_INSTALLED_SQL)[0]["installed"]:
        return None, (
            f"pg_stat_statements is not installed in {database}: CREATE EXTENSION pg_stat_statements "
            "(the RDS parameter group preloads it)"
        )
    try:
        rows = _rows(conn, TOP_STATEMENTS_SQL, {"limit": limit})
    except psycopg.errors.ObjectNotInPrerequisiteState:
        return None, "pg_stat_statements is installed but not loaded: add it to shared_preload_libraries"
    except psycopg.errors.InsufficientPrivilege:
        return None, "not allowed to read pg_stat_statements: grant pg_read_all_stats to the health user"
    return [StatementRow(**row) for row in rows], f"top {limit} statements by total execution time"


def collect_reader(endpoint: Endpoint, attempts: int) -> ReaderRow:
    try:
        with connect(endpoint, attempts) as conn:
            row = _rows(conn, READER_SQL)[0]
    except psycopg.Error as error:
        return ReaderRow(endpoint.label, False, error=_scrub(str(error), endpoint.password))
    return ReaderRow(endpoint.label, True, row["in_recovery"], row["lag_bytes"], row["lag_seconds"])


def collect(target: ShardTarget, thresholds: Thresholds, attempts: int) -> ShardSample:
    """Run every query against the shard's writer (and readers); an unreachable writer is a finding, not a crash."""
    sample = ShardSample(target.name, expected_replicas=target.expected_replicas)
    try:
        conn = connect(target.writer, attempts)
    except psycopg.Error as error:
        sample.reachable, sample.error = False, _scrub(str(error), target.writer.password)
        return sample
    with conn:
        sample.in_recovery = bool(_rows(conn, SERVER_SQL)[0]["in_recovery"])
        if not sample.in_recovery:  # pg_current_wal_lsn() exists only on a primary
            sample.replicas = [ReplicaRow(**r) for r in _rows(conn, REPLICAS_SQL)]
            sample.slots = [SlotRow(**r) for r in _rows(conn, SLOTS_SQL)]
        sample.size_bytes = _rows(conn, DATABASE_SIZE_SQL)[0]["size_bytes"]
        sample.tables = [TableRow(**r) for r in _rows(conn, TABLES_SQL)]
        sample.unused_indexes = [IndexRow(**r) for r in _rows(conn, UNUSED_INDEXES_SQL)]
        cache = _rows(conn, BUFFER_CACHE_SQL)
        if cache:
            sample.blks_hit, sample.blks_read = cache[0]["blks_hit"], cache[0]["blks_read"]
        sample.sessions = [SessionRow(**r) for r in _rows(conn, ACTIVITY_SQL) if r["application"] != APPLICATION_NAME]
        sample.lock_waits = [LockWaitRow(**r) for r in _rows(conn, LOCK_WAITS_SQL)]
        xid = _rows(conn, XID_AGE_SQL)
        if xid:
            sample.xid_age, sample.xid_database = xid[0]["xid_age"], xid[0]["database"]
        sample.statements, sample.statements_note = _statements(conn, thresholds.top_statements)
    sample.readers = [collect_reader(reader, attempts) for reader in target.readers]
    return sample
