"""The drill itself: per shard measure RPO, write the marker and ticks, wait until the target is restorable, restore
into a scratch instance, verify it, measure RTO, and delete the scratch instance whatever happens; then the run over
every shard, whose report is written even when it is interrupted."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .connector import Connector, Endpoint
from .patroni_drill import ScratchFactory, drill_patroni
from .planning import DrillSettings, PatroniTarget, ShardTarget, scratch_identifier
from .rds_restore import delete_scratch, describe_instance, latest_restorable_time, poll, restore_done, restore_request
from .report import DrillReport, ShardResult, iso, print_summary, write_report
from .verification import verify_restored, write_restore_point


def drill_shard(
    shard: ShardTarget,
    *,
    rds: Any,
    connect: Connector,
    settings: DrillSettings,
    run_id: str,
    progress: Progress,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ShardResult:
    scratch = scratch_identifier(settings.scratch_prefix, shard.id, run_id)
    if scratch == shard.instance_identifier:
        raise ValueError(f"scratch identifier {scratch} equals the source instance")
    result = ShardResult(shard=shard.id, source_instance=shard.instance_identifier, scratch_instance=scratch)
    started = time.monotonic()
    try:
        if shard.topology == "patroni":
            raise NotImplementedError(
                "topology 'patroni': a self-hosted shard restores with pgBackRest (its `backup` output), not RDS"
            )
        if shard.topology != "instance":
            raise NotImplementedError(
                f"topology {shard.topology!r}: the drill restores DB instances; a Multi-AZ DB cluster needs "
                "RestoreDBClusterToPointInTime (not implemented yet)"
            )
        restorable = latest_restorable_time(rds, shard.instance_identifier)
        result.latest_restorable_time_at_start = iso(restorable)
        result.rpo_seconds = round(max(0.0, (now() - restorable).total_seconds()), 3)

        source = (shard.id, shard.instance_identifier, shard.host, shard.port, shard.database, shard.secret_arn)
        primary = connect(Endpoint("primary", *source))
        with primary:
            marker, target, ticks = write_restore_point(primary, run_id, shard.id, settings)
        result.target_time = iso(target)
        result.marker_started_at, result.marker_acked_at = iso(marker.started_at), iso(marker.acked_at)

        waiting = time.monotonic()
        poll(
            f"{shard.id}: wait until {result.target_time} is restorable",
            lambda: latest_restorable_time(rds, shard.instance_identifier),
            lambda latest: latest >= target,
            timeout=settings.restorable_timeout_seconds,
            interval=settings.poll_seconds,
            progress=progress,
            describe=lambda latest: f"latest restorable {iso(latest)}",
        )
        result.waited_for_restorable_seconds = round(time.monotonic() - waiting, 3)

        params = restore_request(shard, scratch, target, run_id, settings)
        result.restore_request = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in params.items()}
        requested = time.monotonic()
        rds.restore_db_instance_to_point_in_time(**params)
        instance = poll(
            f"{shard.id}: restore into {scratch}",
            lambda: describe_instance(rds, scratch),
            lambda state: restore_done(state, scratch),
            timeout=settings.available_timeout_seconds,
            interval=settings.poll_seconds,
            progress=progress,
            describe=lambda state: state.get("DBInstanceStatus", "?") if state else "not visible yet",
        )
        result.restore_seconds = round(time.monotonic() - requested, 3)

        verifying = time.monotonic()
        endpoint = Endpoint(
            "restored",
            shard.id,
            scratch,
            instance["Endpoint"]["Address"],
            int(instance["Endpoint"].get("Port") or shard.port),
            shard.database,
            (instance.get("MasterUserSecret") or {}).get("SecretArn") or shard.secret_arn,
            restored_to=target,
        )
        with connect(endpoint) as restored:
            verification = verify_restored(restored, run_id, shard.id, marker, ticks, target)
        result.verify_seconds = round(time.monotonic() - verifying, 3)
        result.rto_seconds = round(time.monotonic() - requested, 3)
        result.verification = asdict(verification)
        result.status = "passed" if verification.ok else "failed"
        if not verification.ok:
            result.error = "; ".join(verification.problems)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded; the scratch instance is deleted below
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        cleaning = time.monotonic()
        try:
            result.cleanup = delete_scratch(rds, scratch, run_id, settings, progress)
        except Exception as exc:  # noqa: BLE001 - report it; the instance carries the run tag for manual clean-up
            result.cleanup = f"FAILED: {type(exc).__name__}: {exc}"
            result.status = "failed"
        result.cleanup_seconds = round(time.monotonic() - cleaning, 3)
        result.drill_seconds = round(time.monotonic() - started, 3)
    return result


def new_run_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%Sz")


def run_drill(
    shards: Sequence[ShardTarget],
    *,
    rds: Any,
    connect: Connector,
    settings: DrillSettings,
    report_dir: Path,
    console: Console,
    region: str | None = None,
    outputs_file: str | None = None,
    run_id: str | None = None,
    patroni: Sequence[PatroniTarget] = (),
    scratch: ScratchFactory | None = None,
) -> tuple[DrillReport, Path, Path]:
    """Drill each shard in turn, then each Patroni cluster (pgBackRest into a `scratch` node); the report is written
    even when the run is interrupted."""
    run_id = run_id or new_run_id()
    report = DrillReport(
        run_id=run_id,
        started_at=datetime.now(UTC).isoformat(),
        finished_at=None,
        region=region,
        outputs_file=outputs_file,
        settings={k: (iso(v) if isinstance(v, datetime) else v) for k, v in asdict(settings).items()},
        shards=[],
    )
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            for shard in shards:
                progress.console.log(f"drilling {shard.id} ({shard.instance_identifier})")
                report.shards.append(
                    drill_shard(shard, rds=rds, connect=connect, settings=settings, run_id=run_id, progress=progress)
                )
            for cluster in patroni:
                if scratch is None:
                    raise ValueError("Patroni clusters to drill but no scratch node factory")
                progress.console.log(f"drilling {cluster.id} ({cluster.name}, pgBackRest stanza {cluster.stanza})")
                report.shards.append(
                    drill_patroni(
                        cluster, connect=connect, scratch=scratch, settings=settings, run_id=run_id, progress=progress
                    )
                )
    finally:
        report.finished_at = datetime.now(UTC).isoformat()
        markdown, document = write_report(report, report_dir)
    print_summary(console, report, markdown, document)
    return report, markdown, document
