"""`python -m scripts dr promote-region`: the Typer app `__main__.py` loads lazily (`dr`). Reads the outputs file,
builds boto3 clients per region and the write check, runs (or resumes) the promotion, writes the new outputs;
exit 0 promoted (or the dry run passed), 1 a step refused or failed (rerun resumes), 2 unusable outputs or arguments.
Runbook: docs/disaster-recovery.md#promoting-the-dr-region."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scripts.reports.tables import rich_table

from .cluster_promotion import (
    StandbyClusterTarget,
    cluster_targets_from_outputs,
    promote_clusters,
    promoted_cluster_entries,
    sql_cluster_write_check,
    urllib_rest,
)
from .planning import OutputsError
from .promotion import PromotionError, PromotionSettings, promote_region, sql_catch_up, sql_write_check
from .promotion_plan import Journal, StandbyTarget, promoted_outputs, summary_rows, targets_from_outputs

promote_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Disaster recovery: promote the DR region.")
EXIT_FAILED, EXIT_USAGE = 1, 2


@promote_app.callback()
def dr_group() -> None:
    """Disaster recovery of the whole region (the per-shard restore drill is `dr-drill`)."""


def _boto_clients() -> Any:
    import boto3
    from botocore.config import Config

    # A lost region must not hang the run: short timeouts, few retries (fencing treats failures as "unreachable").
    config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3, "mode": "standard"})
    cache: dict[tuple[str, str], Any] = {}

    def clients(service: str, region: str) -> Any:
        if (service, region) not in cache:
            cache[(service, region)] = boto3.client(service, region_name=region, config=config)  # pyright: ignore
        return cache[(service, region)]

    return clients


def _connector(ca_bundle: Path | None, *, to_source: bool, retry_seconds: float) -> Any:
    """Credentials from the shard's RDS-managed master secret (in the old region; a promoted replica keeps its
    source's master password), TLS always; `to_source`: the old writer, else the standby in the DR region."""
    import boto3

    from .connector import Endpoint, secrets_manager_connector

    def connect(target: StandbyTarget) -> Any:
        session = boto3.Session(region_name=target.source_region)
        opened = secrets_manager_connector(session, sslrootcert=ca_bundle, retry_seconds=retry_seconds)
        endpoint = Endpoint(
            role="primary",
            shard=str(target.shard),
            instance_identifier=target.source_identifier if to_source else target.standby_identifier,
            host=target.source_endpoint if to_source else target.standby_endpoint,
            port=target.port,
            database=target.database,
            secret_arn=target.source_secret_arn,
        )
        return opened(endpoint)

    return connect


def _cluster_clients(targets: list[StandbyClusterTarget], patroni_ca: Path | None) -> tuple[Any, Any]:
    """(the REST API caller, the write check's connector) of the standby clusters: credentials from their
    replicated secrets in the DR region."""
    import boto3

    def secret(region: str, arn: str) -> dict[str, str]:
        return json.loads(
            boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"]
        )

    rest = None
    if targets:
        credentials = secret(targets[0].region, targets[0].rest_api_secret_arn)
        rest = urllib_rest(credentials["username"], credentials["password"], str(patroni_ca) if patroni_ca else None)

    def connect(target: StandbyClusterTarget) -> Any:
        import psycopg

        admin = secret(target.region, target.secret_arn)
        return psycopg.connect(
            host=target.writer_endpoint, port=target.port, dbname=target.database, user=admin["username"],
            password=admin["password"], sslmode="require", connect_timeout=10, autocommit=True,
        )  # fmt: skip

    return rest, connect


@promote_app.command("promote-region")
def promote_region_command(
    outputs: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="`pulumi stack output --json` of the stack (a file).")
    ],
    dry_run: Annotated[bool, typer.Option(help="Check lag and standby health only; change nothing.")] = False,
    new_outputs: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Where the promoted outputs go (default: <outputs>.promoted.json)."),
    ] = None,
    journal_file: Annotated[
        Path | None,
        typer.Option(
            "--journal", dir_okay=False, help="Step journal; a rerun resumes it (default: <outputs>.promotion.json)."
        ),
    ] = None,
    max_lag_seconds: Annotated[float, typer.Option(min=0, help="Refuse a standby further behind than this.")] = 300.0,
    force: Annotated[
        bool, typer.Option(help="Promote although a standby lags, reports no lag or is unhealthy (accept data loss).")
    ] = False,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="RDS CA bundle: verify the server (sslmode=verify-full)."),
    ] = None,
    poll_seconds: Annotated[float, typer.Option(min=0.1, help="Seconds between AWS status polls.")] = 15.0,
    timeout_minutes: Annotated[int, typer.Option(min=1, help="Give up waiting for a promotion after this.")] = 60,
    patroni_ca: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CA of the standby clusters' REST API certificates (verify)."),
    ] = None,
) -> None:
    """Promote every shard's standby in the DR region: preflight, fence the old writers, promote, Multi-AZ, verify a
    write, write the new outputs. Every step is logged and journaled; rerun the same command to resume."""
    err, console = Console(stderr=True), Console()
    try:
        document = json.loads(outputs.read_text())
        targets = targets_from_outputs(document)
        cluster_targets = cluster_targets_from_outputs(document)
    except (OutputsError, json.JSONDecodeError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    journal = Journal.load(journal_file or outputs.with_suffix(".promotion.json"))
    log_file = journal.path.with_suffix(".log")

    def log(step: str, **facts: Any) -> None:
        line = {"at": datetime.now(UTC).isoformat(), "run": journal.run_id, "step": step, **facts}
        console.print(f"[bold]{step}[/] " + " ".join(f"{k}={v}" for k, v in facts.items()), highlight=False)
        if not dry_run:
            with log_file.open("a") as handle:
                handle.write(json.dumps(line, default=str) + "\n")

    settings = PromotionSettings(
        max_lag_seconds=max_lag_seconds,
        force=force,
        dry_run=dry_run,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout_minutes * 60,
    )
    try:
        done = promote_region(
            targets,
            clients=_boto_clients(),
            check_writes=sql_write_check(_connector(ca_bundle, to_source=False, retry_seconds=120), journal.run_id),
            # The old writer gets one short try: in a region loss it does not answer.
            catch_up=sql_catch_up(
                _connector(ca_bundle, to_source=True, retry_seconds=0),
                _connector(ca_bundle, to_source=False, retry_seconds=120),
            ),
            journal=journal,
            settings=settings,
            log=log,
        )
        if cluster_targets and (done or dry_run):
            rest, connect = _cluster_clients(cluster_targets, patroni_ca)
            done = promote_clusters(
                cluster_targets,
                rest=rest,
                clients=_boto_clients(),
                check_writes=sql_cluster_write_check(connect, journal.run_id),
                journal=journal,
                settings=settings,
                log=log,
            )
    except PromotionError as exc:
        err.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    if not done:
        return
    destination = new_outputs or outputs.with_suffix(".promoted.json")
    if not journal.finished("outputs", "all"):
        promoted_at = datetime.now(UTC).isoformat()
        promoted = promoted_cluster_entries(promoted_outputs(document, targets, promoted_at), cluster_targets)
        destination.write_text(json.dumps(promoted, indent=2) + "\n")
        journal.record("outputs", "all", file=str(destination))
    log("outputs", file=str(destination))
    rows = summary_rows(targets, journal)
    headers = list(rows[0])
    console.print(rich_table("Promoted to the DR region", headers, [[str(r[h]) for h in headers] for r in rows]))
