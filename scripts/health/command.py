"""`python -m scripts health`: replication, shard balance and performance checks against every shard over psycopg
(docs/monitoring.md#health-command). Exit code 0 ok, 1 warning, 2 critical.

The checks and their thresholds are pure (scripts/health_checks.py); this module connects, collects and renders.
Passwords come from the shards' Secrets Manager secrets (or libpq's environment) and are never printed.
"""

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .checks import (
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
    IndexRow,
    LockWaitRow,
    ReaderRow,
    ReplicaRow,
    Report,
    SessionRow,
    ShardSample,
    SlotRow,
    StatementRow,
    Status,
    TableRow,
    Thresholds,
    evaluate,
    human_bytes,
)

APPLICATION_NAME = "cryb-db-health"
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 15_000
# A Multi-AZ DB cluster has two readable standbys behind one reader endpoint.
CLUSTER_STANDBYS = 2
STATUS_STYLES = {Status.OK: "green", Status.WARNING: "yellow", Status.CRITICAL: "bold red"}

health_app = typer.Typer(add_completion=False, help="Replication, shard balance and performance health checks.")
err = Console(stderr=True)


class Credentials(StrEnum):
    secret = "secret"
    env = "env"


@dataclass(frozen=True)
class Endpoint:
    label: str
    """host:port/db, safe to print."""
    conninfo: str = field(repr=False)
    """libpq conninfo; may hold a password, never printed."""
    password: str = field(default="", repr=False)


@dataclass
class ShardTarget:
    name: str
    writer: Endpoint
    readers: list[Endpoint] = field(default_factory=list)
    expected_replicas: int | None = None


# -- targets ---------------------------------------------------------------------------------------------------------


def _label(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    return f"{params.get('host', 'local')}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def _split_endpoint(endpoint: str, default_port: int) -> tuple[str, int]:
    """`host` or `host:port` (an explicit port wins; local test clusters run replicas on other ports)."""
    host, sep, port = endpoint.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() else (endpoint, default_port)


def read_rds_secret(secret_arn: str) -> dict[str, str]:
    """The RDS-managed master secret (`{"username", "password"}`), from the secret's own region."""
    import boto3

    region = secret_arn.split(":")[3]
    text = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)["SecretString"]
    document = json.loads(text)
    return {"username": str(document["username"]), "password": str(document["password"])}


def _endpoint(address: str, shard: Mapping[str, Any], params: Mapping[str, str]) -> Endpoint:
    host, port = _split_endpoint(address, int(shard["port"]))
    conninfo = make_conninfo(host=host, port=port, dbname=shard["databaseName"], **params)
    return Endpoint(f"{host}:{port}/{shard['databaseName']}", conninfo, params.get("password", ""))


def targets_from_outputs(
    outputs: Mapping[str, Any],
    *,
    credentials: Credentials,
    sslmode: str,
    sslrootcert: Path | None,
    secret_reader: Callable[[str], dict[str, str]] = read_rds_secret,
) -> list[ShardTarget]:
    """One target per `postgres.shards[]` entry of `pulumi stack output --json` (or of a preview's `outputs`)."""
    if "postgres" not in outputs and isinstance(outputs.get("outputs"), Mapping):
        outputs = outputs["outputs"]
    try:
        shards = outputs["postgres"]["shards"]
    except (KeyError, TypeError):
        raise typer.BadParameter("no postgres.shards in the outputs file (pulumi stack output --json)") from None
    targets = []
    for shard in shards:
        auth: dict[str, str] = {}
        if credentials == Credentials.secret:
            secret = secret_reader(shard["secretArn"])
            auth = {"user": secret["username"], "password": secret["password"]}
        tls: dict[str, str] = {"sslmode": sslmode}
        if sslrootcert is not None:
            tls["sslrootcert"] = str(sslrootcert)

        readers = list(shard.get("readerEndpoints") or [])
        expected = CLUSTER_STANDBYS if shard.get("topology") == "cluster" else len(readers)
        writer = _endpoint(shard["writerEndpoint"], shard, {**tls, **auth})
        targets.append(
            ShardTarget(str(shard["name"]), writer, [_endpoint(r, shard, {**tls, **auth}) for r in readers], expected)
        )
    return targets


def targets_from_dsns(dsns: Sequence[str], *, expect_replicas: int | None, sslmode: str | None) -> list[ShardTarget]:
    """One shard per `--dsn` (its writer); replicas are seen from the writer's pg_stat_replication."""
    targets = []
    for dsn in dsns:
        conninfo = make_conninfo(dsn, sslmode=sslmode) if sslmode else dsn
        password = str(conninfo_to_dict(conninfo).get("password") or "")
        targets.append(
            ShardTarget(_label(conninfo), Endpoint(_label(conninfo), conninfo, password), [], expect_replicas)
        )
    return targets


# -- collection ------------------------------------------------------------------------------------------------------


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


def load_thresholds(path: Path | None) -> Thresholds:
    if path is None:
        return Thresholds()
    try:
        return Thresholds.model_validate(yaml.safe_load(path.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as error:
        raise typer.BadParameter(f"{path}: {error}", param_hint="--thresholds") from None


# -- rendering -------------------------------------------------------------------------------------------------------


def _value(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and ("bytes" in name or name in ("inactive-slot", "slot-retained-wal")):
        return human_bytes(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def render(console: Console, report: Report, samples: Sequence[ShardSample]) -> None:
    summary = Table(title="Shards")
    for column in ("shard", "replicas", "slots", "size", "rows", "cache hit", "sessions", "xid age", "statements"):
        summary.add_column(column)
    for s in samples:
        if not s.reachable:
            summary.add_row(Text(s.shard), Text("unreachable", style="bold red"), *[""] * 7)
            continue
        ratio = s.blks_hit / (s.blks_hit + s.blks_read) if s.blks_hit + s.blks_read else None
        streaming = sum(1 for r in s.replicas if r.state == "streaming")
        expected = "" if s.expected_replicas is None else f"/{s.expected_replicas}"
        summary.add_row(
            Text(s.shard),
            f"{streaming}{expected} streaming",
            f"{len(s.slots)} ({sum(1 for slot in s.slots if not slot.active)} inactive)",
            human_bytes(s.size_bytes),
            f"{s.live_rows:,}",
            "" if ratio is None else f"{ratio:.2%}",
            str(len(s.sessions)),
            f"{s.xid_age:,}",
            "yes" if s.statements is not None else "n/a",
        )
    console.print(summary)
    if not report.findings:
        console.print("[green]All checks ok[/]")
    else:
        table = Table(title=f"Findings ({len(report.findings)})")
        for column in ("status", "shard", "check", "subject", "value", "threshold", "message"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            table.add_row(
                Text(f.status.label, style=STATUS_STYLES[f.status]),
                Text(f.shard),
                Text(f"{f.check}/{f.name}"),
                Text(f.subject),
                Text(_value(f.value, f.name)),
                Text(_value(f.threshold, f.name)),
                Text(f.message),
            )
        console.print(table)
    notes = {s.statements_note for s in samples if s.reachable and s.statements is None and s.statements_note}
    for note in sorted(notes):
        console.print(f"[dim]{note}[/]")
    console.print(Text(f"status: {report.status.label}", style=STATUS_STYLES[report.status]))


@health_app.callback(invoke_without_command=True)
def health(
    outputs: Annotated[
        Path | None,
        typer.Option(
            "--outputs",
            exists=True,
            dir_okay=False,
            help="`pulumi stack output --json` of the stack: checks every shard's writer and readers.",
        ),
    ] = None,
    dsn: Annotated[
        list[str] | None,
        typer.Option(
            "--dsn",
            help="libpq DSN of one shard's writer (repeat for several shards). Prefer PGPASSWORD/.pgpass over a "
            "password in the DSN, which other users can see in the process list.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON document.")] = False,
    thresholds: Annotated[
        Path | None,
        typer.Option("--thresholds", exists=True, dir_okay=False, help="YAML/JSON thresholds (camelCase keys)."),
    ] = None,
    expect_replicas: Annotated[
        int | None, typer.Option(min=0, help="With --dsn: replicas each shard should be streaming to.")
    ] = None,
    credentials: Annotated[
        Credentials,
        typer.Option(help="With --outputs: `secret` reads each shard's RDS-managed secret; `env` uses PGUSER etc."),
    ] = Credentials.secret,
    sslmode: Annotated[
        str | None, typer.Option(help="libpq sslmode; default verify-full with --outputs, the DSN's own with --dsn.")
    ] = None,
    sslrootcert: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="CA bundle (RDS: global-bundle.pem).")
    ] = None,
    connect_attempts: Annotated[int, typer.Option(min=1, max=10, help="Connection attempts per server.")] = 3,
) -> None:
    """Check every shard: replication (lag, slots, readers), balance (size and rows vs the mean), performance
    (cache hit ratio, long and idle-in-transaction sessions, lock waits, top statements, unused indexes,
    sequential scans, XID age). Exit code 0 ok, 1 warning, 2 critical."""
    if (outputs is None) == (not dsn):
        raise typer.BadParameter("give either --outputs FILE or --dsn DSN (one or more)")
    limits = load_thresholds(thresholds)
    if outputs is not None:
        try:
            document = json.loads(outputs.read_text())
        except ValueError:
            raise typer.BadParameter(f"{outputs} is not JSON", param_hint="--outputs") from None
        targets = targets_from_outputs(
            document, credentials=credentials, sslmode=sslmode or "verify-full", sslrootcert=sslrootcert
        )
    else:
        targets = targets_from_dsns(dsn or [], expect_replicas=expect_replicas, sslmode=sslmode)
    samples = [collect(target, limits, connect_attempts) for target in targets]
    report = evaluate(samples, limits)
    if as_json:
        sys.stdout.write(json.dumps(report.document, indent=2, default=str) + "\n")
    else:
        render(Console(), report, samples)
    raise typer.Exit(int(report.status))
