"""The runner: under a session advisory lock, read the server's facts, choose the strategy, plan, then apply each
migration and record it in one transaction (`analytics migrate`; `dry_run` only plans)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from .errors import MigrationError, MigrationRunError
from .files import MIGRATIONS_DIR, Migration, discover
from .history import HISTORY_DDL, HISTORY_TABLE, SCHEMA, read_applied
from .parameters import Parameters
from .plan import Step, plan
from .server_facts import read_facts
from .strategy import Choice, Requested, ServerFacts, Strategy, choose_strategy

ADVISORY_LOCK_KEY = 7_236_543_210_042  # "analytics migrations"; any runner of this tool takes the same key


PARTITIONED_TABLES = ("analytics.user_events", "analytics.performance_metrics", "analytics.content_engagement")


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
        """The `--json` document, in the stack outputs' key style (camelCase)."""
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


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
    params: Parameters = Parameters(),  # noqa: B008 - a frozen dataclass, as immutable as a tuple
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
