"""The drill of one Patroni cluster: the RDS drill's steps and report, with pgBackRest in place of RDS.

RPO = now - the time the primary last archived a WAL segment to the repository (pg_stat_archiver: what a restore
could replay now). The marker and ticks are written on the writer as for RDS; the target is restorable once the
WAL segment holding the last tick is archived (the drill asks for a WAL switch, which needs a superuser or a grant;
otherwise `archive_timeout`, 60 s, closes the segment). The restore goes into a scratch node (scratch_node.py);
RTO = restore started -> promoted and verified.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from rich.progress import Progress

from .connector import Connector, Endpoint
from .planning import DrillSettings, PatroniTarget
from .rds_restore import poll
from .report import ShardResult, iso
from .scratch_node import ScratchNode
from .verification import verify_restored, write_restore_point

ScratchFactory = Callable[[PatroniTarget], ScratchNode]
_SEGMENT = re.compile(r"^[0-9A-F]{24}$")


def archived(conn: Any) -> tuple[str | None, datetime | None]:
    """The last WAL file the primary archived and when (None before the first)."""
    row = conn.execute("select last_archived_wal, last_archived_time from pg_stat_archiver").fetchone()
    return (row[0], row[1]) if row else (None, None)


def segment_archived(last: str | None, needed: str) -> bool:
    """Whether the archive holds `needed` (same or later timeline and position; history files do not count)."""
    return bool(last and _SEGMENT.match(last) and last >= needed)


def _switch_wal(conn: Any) -> bool:
    import psycopg

    try:
        conn.execute("select pg_switch_wal()")
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def drill_patroni(
    target: PatroniTarget,
    *,
    connect: Connector,
    scratch: ScratchFactory,
    settings: DrillSettings,
    run_id: str,
    progress: Progress,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ShardResult:
    result = ShardResult(
        shard=target.id, source_instance=f"{target.name} (Patroni, stanza {target.stanza})", scratch_instance="-"
    )
    started = time.monotonic()
    node: ScratchNode | None = None
    try:
        source = Endpoint(
            "primary", target.id, target.name, target.host, target.port, target.database, target.secret_arn
        )
        with connect(source) as primary:
            _, last_time = archived(primary)
            if last_time is None:
                raise RuntimeError(f"{target.name}: the primary has archived no WAL yet: nothing to restore from")
            result.latest_restorable_time_at_start = iso(last_time)
            result.rpo_seconds = round(max(0.0, (now() - last_time).total_seconds()), 3)
            marker, target_time, ticks = write_restore_point(primary, run_id, target.id, settings)
            result.target_time = iso(target_time)
            result.marker_started_at, result.marker_acked_at = iso(marker.started_at), iso(marker.acked_at)
            row = primary.execute("select pg_walfile_name(pg_current_wal_lsn())").fetchone()
            needed = str(row[0]) if row else ""
            switched = _switch_wal(primary)
            waiting = time.monotonic()
            poll(
                f"{target.id}: wait until {needed} is archived"
                + ("" if switched else " (no WAL switch privilege: archive_timeout closes it)"),
                lambda: archived(primary)[0],
                lambda last: segment_archived(last, needed),
                timeout=settings.restorable_timeout_seconds,
                interval=min(settings.poll_seconds, 1.0),
                progress=progress,
                describe=lambda last: f"last archived {last}",
            )
            result.waited_for_restorable_seconds = round(time.monotonic() - waiting, 3)

        node = scratch(target)
        result.scratch_instance = str(node.work)
        result.restore_request = {
            "stanza": target.stanza,
            "repository": f"s3://{target.bucket}/{target.prefix}",
            "type": "time",
            "target": iso(target_time),
            "target_action": "promote",
        }
        requested = time.monotonic()
        task = progress.add_task(f"{target.id}: pgBackRest restore into {node.work}", total=None)
        node.restore(target_time, timeout=settings.available_timeout_seconds)
        node.start(timeout=settings.available_timeout_seconds)
        node.wait_promoted(target.database, timeout=settings.available_timeout_seconds)
        progress.remove_task(task)
        result.restore_seconds = round(time.monotonic() - requested, 3)

        verifying = time.monotonic()
        with node.connect(target.database) as restored:
            verification = verify_restored(restored, run_id, target.id, marker, ticks, target_time)
        result.verify_seconds = round(time.monotonic() - verifying, 3)
        result.rto_seconds = round(time.monotonic() - requested, 3)
        result.verification = asdict(verification)
        result.status = "passed" if verification.ok else "failed"
        if not verification.ok:
            result.error = "; ".join(verification.problems)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; the scratch node is removed below
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        cleaning = time.monotonic()
        if node is not None:
            result.cleanup = node.close()
            if result.cleanup.startswith("FAILED"):
                result.status = "failed"
        else:
            result.cleanup = "nothing to clean"
        result.cleanup_seconds = round(time.monotonic() - cleaning, 3)
        result.drill_seconds = round(time.monotonic() - started, 3)
    return result
