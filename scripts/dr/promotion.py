"""`dr promote-region`, the steps: preflight (standby lag and health), fence the old primary where it still answers,
promote the cross-Region replicas, make them Multi-AZ, verify a write on each, then the new outputs.

AWS is reached through `clients(service, region)` (boto3 clients; tests pass moto's) and the write check through
`check_writes(target)`; every finished step is journaled (promotion_plan.Journal), so a rerun after a failure or an
interrupt resumes at the first unfinished step. docs/disaster-recovery.md#promoting-the-dr-region is the runbook."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .promotion_plan import Journal, StandbyTarget
from .rds_restore import aws_error_code
from .rds_restore import describe_instance as _describe

# RDS for PostgreSQL: new transactions are read-only (dynamic, applied without a reboot). Applications that follow the
# shard-map version re-read the outputs; the parameter stops the ones that do not from writing to the old region.
FENCE_PARAMETER = {"ParameterName": "default_transaction_read_only", "ParameterValue": "1", "ApplyMethod": "immediate"}

Clients = Callable[[str, str], Any]
WriteCheck = Callable[[StandbyTarget], None]
CatchUp = Callable[[StandbyTarget], dict[str, Any]]
Log = Callable[..., None]


class PromotionError(RuntimeError):
    """A step refused or failed; the journal keeps what is done, a rerun resumes."""


@dataclass(frozen=True)
class PromotionSettings:
    max_lag_seconds: float = 300.0
    """Refuse to promote a standby further behind than this (its last ReplicaLag), unless `force`."""
    force: bool = False
    """Promote even when a standby lags, reports no lag (the primary is gone) or is unhealthy: accept the data loss."""
    dry_run: bool = False
    """Run the preflight only; change nothing."""
    backup_retention_days: int = 35
    """Automated backups of each promoted instance (a replica has none)."""
    poll_seconds: float = 15.0
    timeout_seconds: float = 3600.0


def _is_replica(instance: dict[str, Any]) -> bool:
    return bool(instance.get("ReadReplicaSourceDBInstanceIdentifier"))


def latest_lag(cloudwatch: Any, identifier: str, now: datetime) -> float | None:
    """The standby's most recent ReplicaLag (seconds) of the last 10 minutes; None when it reports none."""
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),  # the current minute too
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"])


def alarm_state(cloudwatch: Any, name: str) -> str | None:
    found = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    alarms = [*found.get("CompositeAlarms", []), *found.get("MetricAlarms", [])]
    return alarms[0]["StateValue"] if alarms else None


def preflight(target: StandbyTarget, clients: Clients, settings: PromotionSettings) -> dict[str, Any]:
    """The standby exists and is available; its lag and health allow the promotion (or `force` accepts the loss)."""
    standby = _describe(clients("rds", target.standby_region), target.standby_identifier)
    if standby is None:
        raise PromotionError(f"{target.standby_identifier}: no such DB instance in {target.standby_region}")
    if not _is_replica(standby):
        return {"lag_seconds": None, "already_promoted": True, "status": standby.get("DBInstanceStatus")}
    if standby.get("DBInstanceStatus") != "available":
        raise PromotionError(f"{target.standby_identifier}: status {standby.get('DBInstanceStatus')!r}, not available")
    cloudwatch = clients("cloudwatch", target.standby_region)
    lag = latest_lag(cloudwatch, target.standby_identifier, datetime.now(UTC))
    health = alarm_state(cloudwatch, target.unhealthy_alarm_name)
    problems = []
    if lag is None:
        problems.append("reports no ReplicaLag in the last 10 minutes (replication stopped, or its source is gone)")
    elif lag > settings.max_lag_seconds:
        problems.append(f"lags {lag:g} s (> --max-lag-seconds {settings.max_lag_seconds:g})")
    if health == "ALARM":
        problems.append(f"its alarm {target.unhealthy_alarm_name} is in ALARM")
    if problems and not settings.force:
        raise PromotionError(
            f"{target.standby_identifier}: {'; '.join(problems)}. Promoting now loses those writes: rerun with "
            "--force to accept that"
        )
    return {"lag_seconds": lag, "health": health, "accepted": problems, "already_promoted": False}


def fence(target: StandbyTarget, clients: Clients, fenced_groups: set[str]) -> dict[str, Any]:
    """Make the old writer read-only through its parameter group, where the old region still answers."""
    try:
        rds = clients("rds", target.source_region)
        source = _describe(rds, target.source_identifier)
        if source is None:
            return {"result": "source gone"}
        groups = [g["DBParameterGroupName"] for g in source.get("DBParameterGroups", [])]
        for group in groups:
            if group not in fenced_groups:
                rds.modify_db_parameter_group(DBParameterGroupName=group, Parameters=[FENCE_PARAMETER])
                fenced_groups.add(group)
        return {"result": f"read-only ({', '.join(groups) or 'no parameter group'})"}
    except Exception as exc:  # the region is down: endpoint errors, timeouts, throttling of a failing region
        if aws_error_code(exc) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            raise
        return {"result": f"unreachable ({type(exc).__name__}); the shard-map version change fences routers"}


def _wait(what: str, fetch: Callable[[], bool], settings: PromotionSettings) -> None:
    deadline = time.monotonic() + settings.timeout_seconds
    while not fetch():
        if time.monotonic() > deadline:
            raise PromotionError(f"{what}: not done after {settings.timeout_seconds:.0f} s")
        time.sleep(settings.poll_seconds)


def promote_region(
    targets: list[StandbyTarget],
    *,
    clients: Clients,
    check_writes: WriteCheck,
    catch_up: CatchUp | None = None,
    journal: Journal,
    settings: PromotionSettings,
    log: Log,
) -> bool:
    """Run (or resume) every step for every shard; True when every shard is promoted and writable.
    `settings.dry_run`: the preflight only (nothing is journaled or changed)."""
    for target in targets:
        if journal.finished("promote", target.shard):
            continue
        facts = preflight(target, clients, settings)
        log("preflight", shard=target.shard, standby=target.standby_identifier, **facts)
        if not settings.dry_run:
            journal.record("preflight", target.shard, **facts)
    if settings.dry_run:
        log("dry-run", message="preflight passed; nothing changed")
        return False

    fenced_groups: set[str] = set()
    for target in targets:
        if journal.finished("fence", target.shard) or journal.finished("promote", target.shard):
            continue
        facts = fence(target, clients, fenced_groups)
        log("fence", shard=target.shard, source=target.source_identifier, **facts)
        journal.record("fence", target.shard, **facts)

    # A fenced writer takes no new writes: let each standby replay what the writer acknowledged before the fence,
    # so a planned (or partial) failover loses nothing. Where the old writer does not answer, the preflight's lag is
    # the loss.
    for target in targets:
        if catch_up is None or journal.finished("catch-up", target.shard) or journal.finished("promote", target.shard):
            continue
        try:
            facts = catch_up(target)
        except PromotionError as exc:
            if not settings.force:
                raise
            facts = {"result": f"not caught up, forced: {exc}"}
        log("catch-up", shard=target.shard, standby=target.standby_identifier, **facts)
        journal.record("catch-up", target.shard, **facts)

    # Promote every standby at once (each takes minutes), then wait for each.
    started: dict[int, float] = {}
    requested_at: dict[int, float] = {}
    for target in targets:
        if journal.finished("promote", target.shard):
            continue
        rds = clients("rds", target.standby_region)
        instance = _describe(rds, target.standby_identifier)
        if instance is not None and _is_replica(instance):
            rds.promote_read_replica(
                DBInstanceIdentifier=target.standby_identifier, BackupRetentionPeriod=settings.backup_retention_days
            )
        started[target.shard], requested_at[target.shard] = time.monotonic(), time.time()
        log("promote", shard=target.shard, standby=target.standby_identifier, message="requested")
    for target in targets:
        if target.shard not in started:
            continue
        rds = clients("rds", target.standby_region)

        def promoted(rds: Any = rds, target: StandbyTarget = target) -> bool:
            state = _describe(rds, target.standby_identifier) or {}
            return state.get("DBInstanceStatus") == "available" and not _is_replica(state)

        _wait(f"promote {target.standby_identifier}", promoted, settings)
        seconds = round(time.monotonic() - started[target.shard], 3)
        journal.record("promote", target.shard, seconds=seconds, requested_epoch=requested_at[target.shard])
        log("promote", shard=target.shard, standby=target.standby_identifier, seconds=seconds, message="available")

    for target in targets:
        if journal.finished("multi-az", target.shard):
            continue
        clients("rds", target.standby_region).modify_db_instance(
            DBInstanceIdentifier=target.standby_identifier, MultiAZ=True, DeletionProtection=True, ApplyImmediately=True
        )
        journal.record("multi-az", target.shard)
        log("multi-az", shard=target.shard, standby=target.standby_identifier, message="requested")

    for target in targets:
        if journal.finished("verify-writes", target.shard):
            continue
        begin = time.monotonic()
        check_writes(target)
        promote = journal.finished("promote", target.shard) or {}
        facts = {
            "check_seconds": round(time.monotonic() - begin, 3),
            # RTO of the database step: promotion requested -> first accepted write.
            "seconds_after_promote_start": round(time.time() - promote.get("requested_epoch", time.time()), 3),
        }
        journal.record("verify-writes", target.shard, **facts)
        log("verify-writes", shard=target.shard, standby=target.standby_identifier, **facts)
    return True


def sql_write_check(connect: Callable[[StandbyTarget], Any], run_id: str) -> WriteCheck:
    """A write on the promoted standby, read back: the row lands in `cryb_dr.promotions` (created if missing), and
    the server must no longer be in recovery."""

    def check(target: StandbyTarget) -> None:
        with connect(target) as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise PromotionError(f"{target.standby_identifier}: still in recovery after the promotion")
            conn.execute("CREATE SCHEMA IF NOT EXISTS cryb_dr")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS cryb_dr.promotions (run_id text NOT NULL, shard int NOT NULL, "
                "standby text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "INSERT INTO cryb_dr.promotions (run_id, shard, standby) VALUES (%s, %s, %s)",
                (run_id, target.shard, target.standby_identifier),
            )
            found = conn.execute(
                "SELECT count(*) FROM cryb_dr.promotions WHERE run_id = %s AND shard = %s", (run_id, target.shard)
            ).fetchone()[0]
            if found < 1:
                raise PromotionError(f"{target.standby_identifier}: the verification row was not read back")

    return check


def sql_catch_up(
    connect_source: Callable[[StandbyTarget], Any],
    connect_standby: Callable[[StandbyTarget], Any],
    *,
    timeout_seconds: float = 120.0,
    poll_seconds: float = 0.2,
) -> CatchUp:
    """Wait until the standby has replayed the old writer's last WAL position, and that position no longer moves
    (a transaction in flight at the fence may still commit). An old writer that does not answer is reported, not
    waited for."""

    def wait(target: StandbyTarget) -> dict[str, Any]:
        try:
            source = connect_source(target)
        except Exception as exc:  # noqa: BLE001 (whatever stops the connection: the old writer does not answer)
            return {"result": f"old writer unreachable ({type(exc).__name__}): loss up to the preflight lag"}
        begin = time.monotonic()
        with source, connect_standby(target) as standby:
            while True:
                lsn = source.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
                while not standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                    if time.monotonic() - begin > timeout_seconds:
                        raise PromotionError(
                            f"{target.standby_identifier}: did not replay {lsn} within {timeout_seconds:.0f} s; "
                            "rerun to wait again, or rerun with --force to promote without it"
                        )
                    time.sleep(poll_seconds)
                if source.execute("SELECT pg_current_wal_lsn()").fetchone()[0] == lsn:
                    return {"result": f"replayed {lsn}", "seconds": round(time.monotonic() - begin, 3)}

    return wait
