"""The database side of a drill: commit a marker with canary rows and a stream of tick rows around the target on the
primary, then check the restored copy has every row committed before the target and none started after it."""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from .planning import DrillSettings


SCHEMA = "dr_drill"


CANARY_ROWS = 100


@dataclass
class Marker:
    token: str
    started_at: datetime
    acked_at: datetime
    canary_rows: int
    canary_md5: str


@dataclass
class Tick:
    seq: int
    started_at: datetime
    acked_before: datetime  # the commit happened before this (the next statement's server time)


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def _canary(conn: psycopg.Connection[Any], run_id: str, shard: str) -> tuple[int, str]:
    row = conn.execute(
        f"select count(*), coalesce(md5(string_agg(n::text || ':' || payload, ',' order by n)), '') "
        f"from {SCHEMA}.canary where run_id = %s and shard = %s",
        (run_id, shard),
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def write_marker(conn: psycopg.Connection[Any], run_id: str, shard: str) -> Marker:
    """Commit the marker and canary rows in one transaction; return when (on the server clock) it was acked."""
    conn.autocommit = True
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"create table if not exists {SCHEMA}.markers (run_id text, shard text, token text not null, "
        "written_at timestamptz not null default clock_timestamp(), primary key (run_id, shard))"
    )
    conn.execute(
        f"create table if not exists {SCHEMA}.canary (run_id text, shard text, n int, payload text not null, "
        "primary key (run_id, shard, n))"
    )
    conn.execute(
        f"create table if not exists {SCHEMA}.ticks (run_id text, shard text, seq int, "
        "started_at timestamptz not null, primary key (run_id, shard, seq))"
    )
    token = secrets.token_hex(16)
    with conn.transaction():
        started = _now(conn)
        conn.execute(f"insert into {SCHEMA}.markers (run_id, shard, token) values (%s, %s, %s)", (run_id, shard, token))
        conn.execute(
            f"insert into {SCHEMA}.canary select %s, %s, n, md5(%s || n::text) from generate_series(1, %s) n",
            (run_id, shard, token, CANARY_ROWS),
        )
    acked = _now(conn)
    rows, digest = _canary(conn, run_id, shard)
    return Marker(token, started, acked, rows, digest)


def write_ticks(
    conn: psycopg.Connection[Any],
    run_id: str,
    shard: str,
    *,
    until: datetime,
    interval_seconds: float,
    max_seconds: float,
) -> list[Tick]:
    """Commit one row at a time (autocommit) until the server clock passes `until`, so the restore target falls
    between committed rows: those committed before it must come back, those started after it must not."""
    conn.autocommit = True
    started: list[datetime] = []
    deadline = time.monotonic() + max_seconds
    while True:
        row = conn.execute(
            f"insert into {SCHEMA}.ticks values (%s, %s, %s, clock_timestamp()) returning started_at",
            (run_id, shard, len(started)),
        ).fetchone()
        assert row is not None
        started.append(row[0])
        if row[0] > until or time.monotonic() > deadline:
            break
        time.sleep(interval_seconds)
    bounds = [*started[1:], _now(conn)]
    return [Tick(seq, at, acked) for seq, (at, acked) in enumerate(zip(started, bounds, strict=True))]


@dataclass
class Verification:
    marker_expected: str
    marker_found: bool
    canary_primary: tuple[int, str] | None
    canary_restored: tuple[int, str] | None
    ticks_written: int
    ticks_expected_present: int
    ticks_expected_absent: int
    ticks_in_commit_window: int
    ticks_missing: list[int]
    ticks_unexpected: list[int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def write_restore_point(
    conn: psycopg.Connection[Any], run_id: str, shard: str, settings: DrillSettings
) -> tuple[Marker, datetime, list[Tick]]:
    """The marker, the restore target (the settings' or whole seconds after the marker: the RDS API may not keep
    sub-second restore times) and the ticks committed around it; what every drill restores to and verifies."""
    marker = write_marker(conn, run_id, shard)
    default = marker.acked_at + timedelta(seconds=settings.settle_seconds)
    target = settings.target or datetime.fromtimestamp(math.ceil(default.timestamp()), UTC)
    ticks = write_ticks(
        conn,
        run_id,
        shard,
        until=target + timedelta(seconds=settings.settle_seconds),
        interval_seconds=settings.tick_interval_seconds,
        max_seconds=settings.max_tick_seconds,
    )
    return marker, target, ticks


def verify_restored(
    conn: psycopg.Connection[Any], run_id: str, shard: str, marker: Marker, ticks: Sequence[Tick], target: datetime
) -> Verification:
    """Compare the restored database with what was committed around `target` on the primary."""
    conn.autocommit = True
    problems: list[str] = []
    row = conn.execute("select to_regclass(%s) is not null", (f"{SCHEMA}.markers",)).fetchone()
    has_tables = bool(row and row[0])
    found_token, restored_canary, restored_seqs = None, (0, ""), set()
    if has_tables:
        token_row = conn.execute(
            f"select token from {SCHEMA}.markers where run_id = %s and shard = %s", (run_id, shard)
        ).fetchone()
        found_token = token_row[0] if token_row else None
        restored_canary = _canary(conn, run_id, shard)
        restored_seqs = {
            r[0]
            for r in conn.execute(f"select seq from {SCHEMA}.ticks where run_id = %s and shard = %s", (run_id, shard))
        }

    if marker.acked_at <= target:
        expected = "present"
        if found_token != marker.token:
            problems.append("marker committed before the target is missing from the restored instance")
        if restored_canary != (marker.canary_rows, marker.canary_md5):
            problems.append(f"canary checksum differs: primary {marker.canary_md5}, restored {restored_canary[1]}")
    elif marker.started_at > target:
        expected = "absent"
        if found_token is not None or restored_canary[0]:
            problems.append("marker written after the target is present in the restored instance")
    else:
        expected = "undecidable"
        problems.append("the target falls inside the marker's commit window; choose another --target")

    must_have = {t.seq for t in ticks if t.acked_before <= target}
    must_not = {t.seq for t in ticks if t.started_at > target}
    missing, unexpected = sorted(must_have - restored_seqs), sorted(must_not & restored_seqs)
    if missing:
        problems.append(f"{len(missing)} row(s) committed before the target are missing (seq {missing[:5]}...)")
    if unexpected:
        problems.append(f"{len(unexpected)} row(s) started after the target are present (seq {unexpected[:5]}...)")
    return Verification(
        marker_expected=expected,
        marker_found=found_token == marker.token,
        canary_primary=(marker.canary_rows, marker.canary_md5),
        canary_restored=restored_canary,
        ticks_written=len(ticks),
        ticks_expected_present=len(must_have),
        ticks_expected_absent=len(must_not),
        ticks_in_commit_window=len(ticks) - len(must_have) - len(must_not),
        ticks_missing=missing,
        ticks_unexpected=unexpected,
        problems=problems,
    )
