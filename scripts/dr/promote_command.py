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
) -> None:
    """Promote every shard's standby in the DR region: preflight, fence the old writers, promote, Multi-AZ, verify a
    write, write the new outputs. Every step is logged and journaled; rerun the same command to resume."""
    err, console = Console(stderr=True), Console()
    try:
        document = json.loads(outputs.read_text())
        targets = targets_from_outputs(document)
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
    except PromotionError as exc:
        err.print(f"[red]refused:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    if not done:
        return
    destination = new_outputs or outputs.with_suffix(".promoted.json")
    if not journal.finished("outputs", "all"):
        promoted_at = datetime.now(UTC).isoformat()
        destination.write_text(json.dumps(promoted_outputs(document, targets, promoted_at), indent=2) + "\n")
        journal.record("outputs", "all", file=str(destination))
    log("outputs", file=str(destination))
    rows = summary_rows(targets, journal)
    headers = list(rows[0])
    console.print(rich_table("Promoted to the DR region", headers, [[str(r[h]) for h in headers] for r in rows]))
