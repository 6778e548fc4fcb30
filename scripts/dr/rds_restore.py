"""The AWS side of a drill, through an injected boto3 RDS client: the latest restorable time, the
RestoreDBInstanceToPointInTime request, waiting for the scratch instance, and deleting it (only one this run tagged)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.progress import Progress
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from .planning import DrillSettings, OutputsError, ShardTarget

RUN_TAG = "cryb-dr-drill-run"


# Statuses from which a restoring instance never becomes available.
TERMINAL_STATUSES = {
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "inaccessible-encryption-credentials",
    "storage-full",
    "deleting",
}


def aws_error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def describe_instance(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except Exception as exc:
        if aws_error_code(exc) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise


def poll(
    what: str,
    fetch: Callable[[], Any],
    done: Callable[[Any], bool],
    *,
    timeout: float,
    interval: float,
    progress: Progress,
    describe: Callable[[Any], str],
) -> Any:
    """Call `fetch` until `done(result)`, showing `describe(result)`; exceptions from `fetch` end the wait."""
    task = progress.add_task(what, total=None)

    def show(state: Any) -> None:
        progress.update(task, description=f"{what}: {describe(state)}")

    def fetch_and_show() -> Any:
        result = fetch()
        show(result)
        return result

    try:
        return Retrying(
            stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_result(lambda r: not done(r))
        )(fetch_and_show)
    except RetryError:
        raise TimeoutError(f"{what}: not done after {timeout:.0f} s") from None
    finally:
        progress.update(task, completed=1, total=1)


def latest_restorable_time(rds: Any, identifier: str) -> datetime:
    instance = describe_instance(rds, identifier)
    if instance is None:
        raise OutputsError(f"RDS instance {identifier!r} does not exist in this account and region")
    value = instance.get("LatestRestorableTime")
    if value is None:
        raise RuntimeError(f"{identifier}: no LatestRestorableTime (automated backups off?)")
    return value.astimezone(UTC)


def restore_request(
    shard: ShardTarget, scratch: str, target: datetime, run_id: str, settings: DrillSettings
) -> dict[str, Any]:
    """Parameters of RestoreDBInstanceToPointInTime: private, in the shard's subnets and groups, easy to delete."""
    params: dict[str, Any] = {
        "SourceDBInstanceIdentifier": shard.instance_identifier,
        "TargetDBInstanceIdentifier": scratch,
        "RestoreTime": target,
        "DBSubnetGroupName": shard.db_subnet_group_name,
        "VpcSecurityGroupIds": list(shard.security_group_ids),
        "PubliclyAccessible": False,
        "MultiAZ": False,
        "DeletionProtection": False,
        # A scratch copy lives minutes: no automated backups (and no initial backup delaying "available").
        "BackupRetentionPeriod": 0,
        "CopyTagsToSnapshot": False,
        # A fresh RDS-managed secret: the source's password may have rotated since the target time.
        "ManageMasterUserPassword": True,
        "Tags": [
            {"Key": "purpose", "Value": "dr-drill"},
            {"Key": RUN_TAG, "Value": run_id},
            {"Key": "shard", "Value": shard.id},
            {"Key": "source-instance", "Value": shard.instance_identifier},
        ],
    }
    if settings.instance_class:
        params["DBInstanceClass"] = settings.instance_class
    if shard.parameter_group_name:
        params["DBParameterGroupName"] = shard.parameter_group_name
    return params


def restore_done(state: dict[str, Any] | None, scratch: str) -> bool:
    if state is None:
        return False
    status = state.get("DBInstanceStatus", "")
    if status in TERMINAL_STATUSES:
        raise RuntimeError(f"{scratch}: restore ended in status {status!r}")
    return status == "available" and bool(state.get("Endpoint", {}).get("Address"))


def delete_scratch(rds: Any, scratch: str, run_id: str, settings: DrillSettings, progress: Progress) -> str:
    """Delete the scratch instance without a final snapshot; only one this run created (its run tag says so)."""
    instance = describe_instance(rds, scratch)
    if instance is None:
        return "not created"
    tags = {t["Key"]: t["Value"] for t in instance.get("TagList", [])}
    if tags.get(RUN_TAG) != run_id:
        raise RuntimeError(f"refusing to delete {scratch}: it is not tagged {RUN_TAG}={run_id}")
    if instance.get("DeletionProtection"):
        rds.modify_db_instance(DBInstanceIdentifier=scratch, DeletionProtection=False, ApplyImmediately=True)

    def request_deletion() -> bool:
        try:
            rds.delete_db_instance(DBInstanceIdentifier=scratch, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
            return True
        except Exception as exc:
            code = aws_error_code(exc)
            if code in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return True
            if code in ("InvalidDBInstanceState", "InvalidDBInstanceStateFault"):
                return False  # e.g. still "creating" or "modifying": try again shortly
            raise

    poll(
        f"{scratch}: delete",
        request_deletion,
        bool,
        timeout=settings.delete_timeout_seconds,
        interval=settings.poll_seconds,
        progress=progress,
        describe=lambda accepted: "requested" if accepted else "instance busy, retrying",
    )
    if settings.wait_for_deletion:
        poll(
            f"{scratch}: wait until gone",
            lambda: describe_instance(rds, scratch),
            lambda state: state is None,
            timeout=settings.delete_timeout_seconds,
            interval=settings.poll_seconds,
            progress=progress,
            describe=lambda state: "gone" if state is None else state.get("DBInstanceStatus", "?"),
        )
    return "deleted"
