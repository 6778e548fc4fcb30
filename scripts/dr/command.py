"""`python -m scripts dr-drill`: the Typer app `__main__.py` loads lazily; reads the outputs file and arguments,
builds the boto3 session and the production connector, runs the drill, exits 0 / 1 / 2."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

from scripts import PROJECT_DIR
from scripts.cli.exits import ENVIRONMENT, fail

from .connector import secrets_manager_connector
from .drill import run_drill
from .planning import (
    DrillSettings,
    OutputsError,
    PatroniTarget,
    parse_target,
    patroni_targets_from_outputs,
    shards_from_outputs,
)

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
    pg_bin: Annotated[
        Path | None,
        typer.Option(help="Patroni clusters: PostgreSQL binaries of the scratch node (default: the cluster's major)."),
    ] = None,
    scratch_port: Annotated[
        int, typer.Option(help="Patroni clusters: the scratch server's (socket-only) port.")
    ] = 55432,
    work_dir: Annotated[
        Path | None, typer.Option(help="Patroni clusters: where the scratch data directory goes (default: $TMPDIR).")
    ] = None,
) -> None:
    """Restore each shard and Patroni cluster to a point in time into a scratch instance (RDS) or scratch node
    (pgBackRest on this host), verify it, record RTO/RPO, clean up.

    Exit codes: 0 every shard passed, 1 a shard failed (see the report), 2 unusable outputs or --shard/--target,
    64 usage error, 69 environment error (e.g. no AWS credentials).
    """
    err = Console(stderr=True)
    try:
        document = json.loads(outputs.read_text())
        shards = shards_from_outputs(document, shard)
        patroni = patroni_targets_from_outputs(document, shard)
        if shard is not None and not shards and not patroni:
            raise OutputsError(f"--shard {shard!r}: no such shard or Patroni cluster")
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
        rds=session.client("rds") if shards else None,
        connect=secrets_manager_connector(session, sslrootcert=ca_bundle),
        settings=settings,
        report_dir=report_dir,
        console=Console(),
        region=session.region_name,
        outputs_file=str(outputs),
        patroni=patroni,
        scratch=_scratch_factory(session, pg_bin, scratch_port, work_dir),
    )
    if report.summary()["failed"]:
        raise typer.Exit(EXIT_FAILED)


def _scratch_factory(
    session: object, pg_bin: Path | None, port: int, work_dir: Path | None
) -> Callable[[PatroniTarget], Any]:
    """Scratch nodes on this host: the repository passphrase from Secrets Manager, S3 with this session's keys."""
    from .scratch_node import RepoAccess, ScratchNode

    def make(target: PatroniTarget) -> ScratchNode:
        secrets = session.client("secretsmanager")  # type: ignore[attr-defined]
        passphrase = json.loads(secrets.get_secret_value(SecretId=target.passphrase_secret_arn)["SecretString"])
        credentials = session.get_credentials().get_frozen_credentials()  # type: ignore[attr-defined]
        return ScratchNode(
            target,
            passphrase=passphrase["password"],
            access=RepoAccess(credentials.access_key, credentials.secret_key, credentials.token),
            pg_bin=pg_bin or Path(f"/usr/lib/postgresql/{target.engine_version}/bin"),
            port=port,
            work_root=work_dir,
        )

    return make
