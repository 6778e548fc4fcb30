"""`python -m scripts dr-drill`: the Typer app `__main__.py` loads lazily; reads the outputs file and arguments,
builds the boto3 session and the production connector, runs the drill, exits 0 / 1 / 2."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from scripts import PROJECT_DIR
from scripts.cli.exits import ENVIRONMENT, fail

from .connector import secrets_manager_connector
from .drill import run_drill
from .planning import DrillSettings, OutputsError, parse_target, shards_from_outputs

dr_app = typer.Typer(add_completion=False, help="Disaster-recovery drill of the PostgreSQL shards.")


REPORTS = PROJECT_DIR / "reports"


EXIT_FAILED, EXIT_USAGE = 1, 2


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # CI cancels with SIGTERM: turn it into KeyboardInterrupt so the finally blocks delete the scratch instance.
    raise KeyboardInterrupt(f"signal {signum}")


@dr_app.command("dr-drill")
def dr_drill(
    outputs: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="`pulumi stack output --json` of the stack (a file).")
    ],
    shard: Annotated[
        str | None,
        typer.Option(
            help="Drill only this shard: its `id` (e.g. 0) or its RDS identifier `name` (e.g. cryb-prod-pg-00) in "
            "the outputs' postgres.shards[] (default: every shard)."
        ),
    ] = None,
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

    Exit codes: 0 every shard passed, 1 a shard failed (see the report), 2 unusable outputs or --shard/--target,
    64 usage error, 69 environment error (e.g. no AWS credentials).
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
    if session.get_credentials() is None:  # before the drill records every shard as failed for want of them
        raise fail(
            "no usable AWS credentials: set AWS_PROFILE, run `aws sso login` or `aws configure`, or run where an "
            "instance or task role applies (docs/backups.md#the-dr-drill lists the permissions)",
            ENVIRONMENT,
            "environment",
        )
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
