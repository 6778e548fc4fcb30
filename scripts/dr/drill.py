"""DR drill: restore every PostgreSQL shard to a point in time into a scratch instance, verify it, measure RTO and
RPO, delete the scratch instance whatever happens, and write a Markdown + JSON report (docs/backups.md).

`python -m scripts dr-drill --outputs FILE [--shard ID] [--target TIME]`, FILE being `pulumi stack output --json`.

Per shard: (1) RPO = now - the instance's latest restorable time; (2) on the primary, commit a marker row with
canary rows, then a stream of "tick" rows around the target time; (3) wait until the target is restorable;
(4) `RestoreDBInstanceToPointInTime` into a scratch instance in the shard's data subnets and security groups;
(5) verify over psycopg: the marker and the canary checksum, every tick committed before the target present and
none started after it; RTO = restore request -> verified; (6) delete the scratch instance (no final snapshot).

AWS calls go through an injected boto3 RDS client and database connections through an injected connector, so the
tests run the same code against moto and local PostgreSQL servers.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from tenacity import RetryError, Retrying, retry_if_exception, retry_if_result, stop_after_delay, wait_fixed

from scripts import PROJECT_DIR

if TYPE_CHECKING:
    import psycopg

dr_app = typer.Typer(add_completion=False, help="Disaster-recovery drill of the PostgreSQL shards.")

REPORTS = PROJECT_DIR / "reports"
RUN_TAG = "cryb-dr-drill-run"
SCHEMA = "dr_drill"
CANARY_ROWS = 100
EXIT_FAILED, EXIT_USAGE = 1, 2
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


class OutputsError(ValueError):
    """The stack outputs do not describe the shards the drill needs; the message says which key is missing."""


@dataclass(frozen=True)
class ShardTarget:
    """One shard as the stack outputs describe it."""

    id: str
    instance_identifier: str
    host: str
    port: int
    database: str
    secret_arn: str | None
    db_subnet_group_name: str
    security_group_ids: tuple[str, ...]
    parameter_group_name: str | None = None
    topology: str = "instance"


@dataclass(frozen=True)
class Endpoint:
    """What a connector needs to open a session; `restored_to` is set for the scratch instance."""

    role: Literal["primary", "restored"]
    shard: str
    instance_identifier: str
    host: str
    port: int
    database: str
    secret_arn: str | None
    restored_to: datetime | None = None


Connector = Callable[[Endpoint], "psycopg.Connection[Any]"]


# --- stack outputs -------------------------------------------------------------------------------------------------

_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "shardId", "shard_id", "name"),
    # components/postgres/component.py exports the RDS identifier as `name` and the shard index as `id`.
    "instanceIdentifier": ("instanceIdentifier", "instance_identifier", "dbInstanceIdentifier", "identifier", "name"),
    "writerEndpoint": ("writerEndpoint", "writer_endpoint", "endpoint", "address"),
    "port": ("port",),
    "secretArn": ("secretArn", "secret_arn", "masterUserSecretArn", "master_user_secret_arn"),
    "database": ("database", "dbName", "db_name", "databaseName"),
    "dbSubnetGroupName": ("dbSubnetGroupName", "db_subnet_group_name", "subnetGroupName"),
    "securityGroupIds": ("securityGroupIds", "security_group_ids", "vpcSecurityGroupIds"),
    "parameterGroupName": ("parameterGroupName", "parameter_group_name", "dbParameterGroupName"),
    "topology": ("topology",),
}
OPTIONAL_KEYS = ("secretArn", "parameterGroupName", "topology")


def _pick(entry: Mapping[str, Any], key: str) -> Any:
    for name in _ALIASES[key]:
        if entry.get(name) not in (None, "", []):
            return entry[name]
    return None


def _network_fallbacks(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Subnet group and postgres security group from the `network` output, when a shard entry lacks them."""
    network = outputs.get("network")
    network = network if isinstance(network, Mapping) else {}
    groups = network.get("securityGroupIds")
    groups = groups if isinstance(groups, Mapping) else {}
    return {
        "dbSubnetGroupName": network.get("dbSubnetGroupName"),
        "securityGroupIds": [groups["postgres"]] if groups.get("postgres") else None,
    }


def shards_from_outputs(outputs: Mapping[str, Any], only: str | None = None) -> list[ShardTarget]:
    """Shards from `pulumi stack output --json`; raises OutputsError naming what is missing and what is there."""
    postgres = outputs.get("postgres")
    if not isinstance(postgres, Mapping):
        raise OutputsError(
            f"no `postgres` output (outputs have: {', '.join(sorted(outputs)) or 'nothing'}); pass the "
            "`pulumi stack output --json` of a stack that has the PostgreSQL shards"
        )
    raw = postgres.get("shards")
    if isinstance(raw, Mapping):  # also accept {"shard-0": {...}}
        raw = [{"id": key, **value} for key, value in raw.items() if isinstance(value, Mapping)]
    if not isinstance(raw, list) or not raw:
        raise OutputsError(f"`postgres.shards` must be a non-empty list (postgres has: {', '.join(sorted(postgres))})")
    fallbacks = _network_fallbacks(outputs)
    shards, problems = [], []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            problems.append(f"postgres.shards[{index}] is {type(entry).__name__}, not an object")
            continue
        values = {key: _pick(entry, key) for key in _ALIASES}
        for key, fallback in fallbacks.items():
            values[key] = values[key] or fallback
        host, port = values["writerEndpoint"], values["port"]
        if isinstance(host, str) and ":" in host and port is None:
            host, _, port_text = host.rpartition(":")
            port = int(port_text)
        values["writerEndpoint"], values["port"] = host, port
        label = f"postgres.shards[{index}] ({'no id' if values['id'] is None else values['id']})"
        missing = [key for key in _ALIASES if key not in OPTIONAL_KEYS and values[key] is None]
        if missing:
            wanted = "; ".join(f"{key} (as {' or '.join(_ALIASES[key])})" for key in missing)
            problems.append(f"{label}: missing {wanted}; the entry has: {', '.join(sorted(entry))}")
            continue
        shards.append(
            ShardTarget(
                id=str(values["id"]),
                instance_identifier=str(values["instanceIdentifier"]),
                host=str(host),
                port=int(port),
                database=str(values["database"]),
                secret_arn=values["secretArn"],
                db_subnet_group_name=str(values["dbSubnetGroupName"]),
                security_group_ids=tuple(str(g) for g in values["securityGroupIds"]),
                parameter_group_name=values["parameterGroupName"],
                topology=str(values["topology"] or "instance"),
            )
        )
    if problems:
        raise OutputsError("invalid stack outputs:\n" + "\n".join(f"  - {p}" for p in problems))
    if only is not None:
        chosen = [s for s in shards if only in (s.id, s.instance_identifier)]
        if not chosen:
            raise OutputsError(f"--shard {only!r}: no such shard (shards: {', '.join(s.id for s in shards)})")
        return chosen
    return shards


def parse_target(text: str | None) -> datetime | None:
    """ISO 8601 restore target; UTC when it carries no offset."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise OutputsError(f"--target {text!r}: must be an ISO 8601 time such as 2026-05-01T03:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def scratch_identifier(prefix: str, shard: str, run_id: str) -> str:
    """An RDS identifier (letter first, letters/digits/single hyphens, <= 63) that cannot be a shard's."""
    raw = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{shard}-{run_id}".lower()).strip("-")
    if not raw[:1].isalpha():
        raw = f"d-{raw}"
    return raw[:63].rstrip("-")


# --- database side -------------------------------------------------------------------------------------------------


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


def secrets_manager_connector(
    session: Any, *, sslrootcert: Path | None = None, connect_timeout: int = 10, retry_seconds: float = 300
) -> Connector:
    """Production connector: credentials from the instance's Secrets Manager secret, TLS always.

    A new instance's DNS name and RDS-managed secret can take a few minutes to answer, hence the retries.
    """
    import psycopg
    from botocore.exceptions import ClientError

    client = session.client("secretsmanager")

    def connect(endpoint: Endpoint) -> psycopg.Connection[Any]:
        if not endpoint.secret_arn:
            raise OutputsError(f"{endpoint.shard}: no secretArn for {endpoint.instance_identifier}")
        secret_arn = endpoint.secret_arn
        retrying = Retrying(
            stop=stop_after_delay(retry_seconds),
            wait=wait_fixed(10),
            retry=retry_if_exception(lambda e: isinstance(e, psycopg.OperationalError | ClientError)),
            reraise=True,
        )

        def attempt() -> psycopg.Connection[Any]:
            secret = json.loads(client.get_secret_value(SecretId=secret_arn)["SecretString"])
            return psycopg.connect(
                host=endpoint.host,
                port=endpoint.port,
                dbname=endpoint.database,
                user=secret["username"],
                password=secret["password"],
                sslmode="verify-full" if sslrootcert else "require",
                sslrootcert=str(sslrootcert) if sslrootcert else None,
                connect_timeout=connect_timeout,
                application_name="cryb-dr-drill",
                autocommit=True,
            )

        return retrying(attempt)

    return connect


# --- AWS side ------------------------------------------------------------------------------------------------------


@dataclass
class DrillSettings:
    """Knobs of a drill; the defaults suit RDS (minutes-long restores)."""

    target: datetime | None = None
    settle_seconds: float = 2.0
    tick_interval_seconds: float = 0.05
    max_tick_seconds: float = 30.0
    poll_seconds: float = 20.0
    restorable_timeout_seconds: float = 20 * 60
    available_timeout_seconds: float = 2 * 3600
    delete_timeout_seconds: float = 30 * 60
    wait_for_deletion: bool = True
    instance_class: str | None = None
    scratch_prefix: str = "drill"


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _describe(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except Exception as exc:
        if _error_code(exc) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise


def _poll(
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
    instance = _describe(rds, identifier)
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


def delete_scratch(rds: Any, scratch: str, run_id: str, settings: DrillSettings, progress: Progress) -> str:
    """Delete the scratch instance without a final snapshot; only one this run created (its run tag says so)."""
    instance = _describe(rds, scratch)
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
            code = _error_code(exc)
            if code in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
                return True
            if code in ("InvalidDBInstanceState", "InvalidDBInstanceStateFault"):
                return False  # e.g. still "creating" or "modifying": try again shortly
            raise

    _poll(
        f"{scratch}: delete",
        request_deletion,
        bool,
        timeout=settings.delete_timeout_seconds,
        interval=settings.poll_seconds,
        progress=progress,
        describe=lambda accepted: "requested" if accepted else "instance busy, retrying",
    )
    if settings.wait_for_deletion:
        _poll(
            f"{scratch}: wait until gone",
            lambda: _describe(rds, scratch),
            lambda state: state is None,
            timeout=settings.delete_timeout_seconds,
            interval=settings.poll_seconds,
            progress=progress,
            describe=lambda state: "gone" if state is None else state.get("DBInstanceStatus", "?"),
        )
    return "deleted"


# --- one shard -----------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass
class ShardResult:
    shard: str
    source_instance: str
    scratch_instance: str
    status: str = "failed"
    error: str | None = None
    target_time: str | None = None
    latest_restorable_time_at_start: str | None = None
    rpo_seconds: float | None = None
    marker_started_at: str | None = None
    marker_acked_at: str | None = None
    waited_for_restorable_seconds: float | None = None
    restore_request: dict[str, Any] | None = None
    restore_seconds: float | None = None
    verify_seconds: float | None = None
    rto_seconds: float | None = None
    drill_seconds: float | None = None
    verification: dict[str, Any] | None = None
    cleanup: str = "not attempted"
    cleanup_seconds: float | None = None


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
                "topology 'patroni': a self-hosted shard restores with pgBackRest, not RDS; its PITR drill is "
                "`python -m scripts bench pitr` (docs/selfhosted.md)"
            )
        if shard.topology != "instance":
            raise NotImplementedError(
                f"topology {shard.topology!r}: the drill restores DB instances; a Multi-AZ DB cluster needs "
                "RestoreDBClusterToPointInTime (not implemented yet)"
            )
        restorable = latest_restorable_time(rds, shard.instance_identifier)
        result.latest_restorable_time_at_start = _iso(restorable)
        result.rpo_seconds = round(max(0.0, (now() - restorable).total_seconds()), 3)

        source = (shard.id, shard.instance_identifier, shard.host, shard.port, shard.database, shard.secret_arn)
        primary = connect(Endpoint("primary", *source))
        with primary:
            marker = write_marker(primary, run_id, shard.id)
            default = marker.acked_at + timedelta(seconds=settings.settle_seconds)
            # Whole seconds: the RDS API may not keep sub-second restore times.
            target = settings.target or datetime.fromtimestamp(math.ceil(default.timestamp()), UTC)
            ticks = write_ticks(
                primary,
                run_id,
                shard.id,
                until=target + timedelta(seconds=settings.settle_seconds),
                interval_seconds=settings.tick_interval_seconds,
                max_seconds=settings.max_tick_seconds,
            )
        result.target_time = _iso(target)
        result.marker_started_at, result.marker_acked_at = _iso(marker.started_at), _iso(marker.acked_at)

        waiting = time.monotonic()
        _poll(
            f"{shard.id}: wait until {result.target_time} is restorable",
            lambda: latest_restorable_time(rds, shard.instance_identifier),
            lambda latest: latest >= target,
            timeout=settings.restorable_timeout_seconds,
            interval=settings.poll_seconds,
            progress=progress,
            describe=lambda latest: f"latest restorable {_iso(latest)}",
        )
        result.waited_for_restorable_seconds = round(time.monotonic() - waiting, 3)

        params = restore_request(shard, scratch, target, run_id, settings)
        result.restore_request = {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in params.items()}
        requested = time.monotonic()
        rds.restore_db_instance_to_point_in_time(**params)
        instance = _poll(
            f"{shard.id}: restore into {scratch}",
            lambda: _describe(rds, scratch),
            lambda state: _restore_done(state, scratch),
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


def _restore_done(state: dict[str, Any] | None, scratch: str) -> bool:
    if state is None:
        return False
    status = state.get("DBInstanceStatus", "")
    if status in TERMINAL_STATUSES:
        raise RuntimeError(f"{scratch}: restore ended in status {status!r}")
    return status == "available" and bool(state.get("Endpoint", {}).get("Address"))


# --- the run and its report ----------------------------------------------------------------------------------------


@dataclass
class DrillReport:
    run_id: str
    started_at: str
    finished_at: str | None
    region: str | None
    outputs_file: str | None
    settings: dict[str, Any]
    shards: list[ShardResult]

    def summary(self) -> dict[str, Any]:
        rtos = [s.rto_seconds for s in self.shards if s.rto_seconds is not None]
        rpos = [s.rpo_seconds for s in self.shards if s.rpo_seconds is not None]
        return {
            "passed": sum(s.status == "passed" for s in self.shards),
            "failed": sum(s.status != "passed" for s in self.shards),
            "max_rto_seconds": max(rtos) if rtos else None,
            "max_rpo_seconds": max(rpos) if rpos else None,
            "scratch_instances_left": [s.scratch_instance for s in self.shards if s.cleanup.startswith("FAILED")],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "cryb-db dr-drill",
            "version": 1,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "region": self.region,
            "outputs_file": self.outputs_file,
            "settings": self.settings,
            "summary": self.summary(),
            "shards": [asdict(s) for s in self.shards],
        }

    def to_markdown(self) -> str:
        summary = self.summary()
        verdict = "PASSED" if not summary["failed"] and self.shards else "FAILED"
        lines = [
            f"# DR drill {self.run_id}: {verdict}",
            "",
            f"Started {self.started_at}, finished {self.finished_at}, region {self.region or '-'}; "
            f"{summary['passed']} passed, {summary['failed']} failed.",
            "",
            "RTO: restore requested -> restored instance available and verified. "
            "RPO: drill start minus the instance's latest restorable time (data a restore would lose now).",
            "",
            "| shard | status | RTO s | RPO s | restore s | verify s | target (UTC) | scratch instance | cleanup |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in self.shards:
            lines.append(
                f"| {s.shard} | {s.status} | {_num(s.rto_seconds)} | {_num(s.rpo_seconds)} | "
                f"{_num(s.restore_seconds)} | {_num(s.verify_seconds)} | {s.target_time or '-'} | "
                f"{s.scratch_instance} | {s.cleanup} |"
            )
        for s in self.shards:
            lines += ["", f"## {s.shard}", ""]
            v = s.verification
            if v:
                lines += [
                    f"- marker ({v['marker_expected']} expected): {'found' if v['marker_found'] else 'not found'}",
                    f"- canary checksum: primary `{(v['canary_primary'] or ['', ''])[1]}`, "
                    f"restored `{(v['canary_restored'] or ['', ''])[1]}`",
                    f"- rows written around the target: {v['ticks_written']}; committed before it "
                    f"{v['ticks_expected_present']} (missing {len(v['ticks_missing'])}), started after it "
                    f"{v['ticks_expected_absent']} (present {len(v['ticks_unexpected'])}), in a commit window "
                    f"{v['ticks_in_commit_window']}",
                ]
            lines.append(f"- waited for the target to become restorable: {_num(s.waited_for_restorable_seconds)} s")
            if s.error:
                lines.append(f"- **error**: {s.error}")
        return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def write_report(report: DrillReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"dr-drill-{report.run_id}"
    markdown, document = stem.with_suffix(".md"), stem.with_suffix(".json")
    markdown.write_text(report.to_markdown())
    document.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return markdown, document


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
) -> tuple[DrillReport, Path, Path]:
    """Drill each shard in turn; the report is written even when the run is interrupted."""
    run_id = run_id or new_run_id()
    report = DrillReport(
        run_id=run_id,
        started_at=datetime.now(UTC).isoformat(),
        finished_at=None,
        region=region,
        outputs_file=outputs_file,
        settings={k: (_iso(v) if isinstance(v, datetime) else v) for k, v in asdict(settings).items()},
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
    finally:
        report.finished_at = datetime.now(UTC).isoformat()
        markdown, document = write_report(report, report_dir)
    _print_summary(console, report, markdown, document)
    return report, markdown, document


def _print_summary(console: Console, report: DrillReport, markdown: Path, document: Path) -> None:
    table = Table(title=f"DR drill {report.run_id}")
    for column in ("shard", "status", "RTO s", "RPO s", "cleanup", "error"):
        table.add_column(column)
    for s in report.shards:
        table.add_row(s.shard, s.status, _num(s.rto_seconds), _num(s.rpo_seconds), s.cleanup, s.error or "")
    console.print(table)
    console.print(f"report: {markdown} and {document}")


# --- CLI -----------------------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # CI cancels with SIGTERM: turn it into KeyboardInterrupt so the finally blocks delete the scratch instance.
    raise KeyboardInterrupt(f"signal {signum}")


@dr_app.command("dr-drill")
def dr_drill(
    outputs: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="`pulumi stack output --json` of the stack (a file).")
    ],
    shard: Annotated[str | None, typer.Option(help="Drill only this shard id (default: every shard).")] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Restore target, ISO 8601 (UTC without an offset). Default: just after the marker."),
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="Where dr-drill-<run>.md/.json are written.")] = REPORTS,
    region: Annotated[str | None, typer.Option(help="AWS region (default: the outputs' `region`).")] = None,
    instance_class: Annotated[
        str | None, typer.Option(help="Instance class of the scratch instance (default: the source's).")
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="RDS CA bundle; verifies the server (sslmode=verify-full)."),
    ] = None,
    poll_seconds: Annotated[float, typer.Option(min=1, help="Seconds between AWS status polls.")] = 20.0,
    timeout_minutes: Annotated[int, typer.Option(min=1, help="Give up waiting for a restore after this.")] = 120,
) -> None:
    """Restore each shard to a point in time into a scratch instance, verify it, record RTO/RPO, clean up.

    Exit codes: 0 every shard passed, 1 a shard failed (see the report), 2 unusable outputs or arguments.
    """
    err = Console(stderr=True)
    try:
        document = json.loads(outputs.read_text())
        shards = shards_from_outputs(document, shard)
        settings = DrillSettings(
            target=parse_target(target),
            poll_seconds=poll_seconds,
            available_timeout_seconds=timeout_minutes * 60,
            instance_class=instance_class,
        )
    except (OutputsError, json.JSONDecodeError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None

    import boto3

    session = boto3.Session(region_name=region or document.get("region"))
    signal.signal(signal.SIGTERM, _interrupt)
    report, _, _ = run_drill(
        shards,
        rds=session.client("rds"),
        connect=secrets_manager_connector(session, sslrootcert=ca_bundle),
        settings=settings,
        report_dir=report_dir,
        console=Console(),
        region=session.region_name,
        outputs_file=str(outputs),
    )
    if report.summary()["failed"]:
        raise typer.Exit(EXIT_FAILED)
