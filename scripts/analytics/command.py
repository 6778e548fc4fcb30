"""`python -m scripts analytics migrate|status`: the Typer app `__main__.py` loads lazily; arguments, exit codes
and JSON or text output around the runner (runner.py) and the status (status.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from scripts.cli.exits import ENVIRONMENT, fail
from scripts.health.targets import Credentials

from .connections import connect, conninfo_from_outputs, conninfo_label
from .errors import MigrationError, MigrationRunError
from .parameters import Parameters
from .plan import Step
from .render import render_outcome, render_status
from .runner import migrate
from .status import status
from .strategy import Requested

EXIT_FAILED, EXIT_INVALID = 1, 2


analytics_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Analytics events schema: versioned migrations (TimescaleDB, or pg_partman/native partitioning).",
)


err = Console(stderr=True)


OutputsOption = Annotated[
    Path | None,
    typer.Option(
        "--outputs",
        exists=True,
        dir_okay=False,
        help="`pulumi stack output --json`: connects to the writer of selfhosted.clusters[] named --cluster.",
    ),
]


DsnOption = Annotated[
    str | None,
    typer.Option(help="libpq DSN of the analytics database (prefer PGPASSWORD/.pgpass to a password in it)."),
]


ClusterOption = Annotated[str, typer.Option(help="With --outputs: the selfhosted.clusters[] entry.")]


ShardOption = Annotated[
    str | None,
    typer.Option(
        help="With --outputs, instead of --cluster: the postgres.shards[] entry (a stack without an analytics "
        "cluster, e.g. dev and its local platform, docs/local.md)."
    ),
]


CredentialsOption = Annotated[
    Credentials,
    typer.Option(help="With --outputs: `secret` reads the cluster's admin secret; `env` uses PGUSER etc."),
]


SslmodeOption = Annotated[
    str | None,
    typer.Option(help="libpq sslmode; with --outputs default verify-full with --sslrootcert, else require."),
]


SslrootcertOption = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="CA bundle of the cluster's certificate.")
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _conninfo(
    outputs: Path | None,
    dsn: str | None,
    cluster: str,
    credentials: Credentials,
    sslmode: str | None,
    sslrootcert: Path | None,
    shard: str | None = None,
) -> str:
    if (outputs is None) == (dsn is None):
        raise typer.BadParameter("give either --outputs FILE or --dsn DSN")
    if dsn is not None:
        return make_conninfo(dsn, sslmode=sslmode) if sslmode else dsn
    assert outputs is not None
    try:
        document = json.loads(outputs.read_text())
    except ValueError:
        raise typer.BadParameter(f"{outputs} is not JSON", param_hint="--outputs") from None
    mode = sslmode or ("verify-full" if sslrootcert else "require")
    return conninfo_from_outputs(
        document, cluster, credentials=credentials, sslmode=mode, sslrootcert=sslrootcert, shard=shard
    )


def _fail(message: str, code: int, as_json: bool, **details: Any) -> typer.Exit:
    kind = "refused" if code == EXIT_INVALID else "failed"
    return fail(message, code, kind, as_json=as_json, **details)


@analytics_app.command("migrate")
def migrate_command(
    outputs: OutputsOption = None,
    dsn: DsnOption = None,
    cluster: ClusterOption = "analytics",
    shard: ShardOption = None,
    credentials: CredentialsOption = Credentials.secret,
    sslmode: SslmodeOption = None,
    sslrootcert: SslrootcertOption = None,
    strategy: Annotated[
        Requested, typer.Option(help="auto: TimescaleDB if usable, else pg_partman, else native partitioning.")
    ] = Requested.auto,
    retention_days: Annotated[int, typer.Option(help="Days of events kept (1-3650).")] = Parameters.retention_days,
    premake_days: Annotated[
        int, typer.Option(help="Daily partitions created ahead (1-90; partman/native).")
    ] = Parameters.premake_days,
    compress_after_days: Annotated[
        int, typer.Option(help="Compress chunks older than this (TimescaleDB; less than --retention-days).")
    ] = Parameters.compress_after_days,
    cron_schedule: Annotated[
        str, typer.Option(help="pg_cron schedule of the partition maintenance (five fields).")
    ] = Parameters.cron_schedule,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the strategy and the plan; change nothing.")
    ] = False,
    lock_wait: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for another runner's migration lock.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Apply the pending analytics migrations, each in its own transaction, and say which strategy was used.

    Exit codes: 0 done (or nothing to do), 1 a migration failed (rolled back), 2 refused before any change (bad
    parameters, changed or missing files, impossible strategy), 64 usage error, 69 no connection or no AWS
    credentials."""
    params = Parameters(retention_days, premake_days, compress_after_days, cron_schedule)
    try:
        params.validate()
        conninfo = _conninfo(outputs, dsn, cluster, credentials, sslmode, sslrootcert, shard)
    except MigrationError as error:
        raise _fail(str(error), EXIT_INVALID, as_json) from None
    try:
        conn = connect(conninfo)
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0]
        message = f"cannot connect to {conninfo_label(conninfo)}: {first_line}"
        raise fail(message, ENVIRONMENT, "environment", as_json=as_json) from None
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True, disable=as_json or not err.is_terminal,
    )  # fmt: skip
    task = progress.add_task("migrating", total=None)

    def on_step(step: Step, phase: str) -> None:
        if phase == "start":
            progress.update(task, description=f"applying {step.label}")
        else:
            progress.advance(task)
            if not as_json:
                err.print(f"applied {step.label}", highlight=False)

    try:
        with conn, progress:
            outcome = migrate(
                conn, params=params, requested=strategy, dry_run=dry_run, lock_wait_seconds=lock_wait,
                on_step=on_step,
            )  # fmt: skip
    except MigrationError as error:
        raise _fail(str(error), EXIT_INVALID, as_json) from None
    except MigrationRunError as error:
        raise _fail(str(error), EXIT_FAILED, as_json, file=error.file, applied=error.applied_before) from None
    except psycopg.Error as error:
        message = f"{conninfo_label(conninfo)}: {str(error).strip().splitlines()[0]}"
        raise _fail(message, EXIT_FAILED, as_json) from None
    if as_json:
        sys.stdout.write(json.dumps(outcome.document, indent=2, default=str) + "\n")
        return
    render_outcome(Console(), outcome)


@analytics_app.command("status")
def status_command(
    outputs: OutputsOption = None,
    dsn: DsnOption = None,
    cluster: ClusterOption = "analytics",
    shard: ShardOption = None,
    credentials: CredentialsOption = Credentials.secret,
    sslmode: SslmodeOption = None,
    sslrootcert: SslrootcertOption = None,
    as_json: JsonOption = False,
) -> None:
    """List applied and pending analytics migrations (read only).

    Exit codes: 0 as recorded, 1 a recorded file changed, 2 refused (unusable outputs), 64 usage error, 69 no
    connection or no AWS credentials."""
    try:
        conninfo = _conninfo(outputs, dsn, cluster, credentials, sslmode, sslrootcert, shard)
    except MigrationError as error:
        raise _fail(str(error), EXIT_INVALID, as_json) from None
    try:
        conn = connect(conninfo)
    except psycopg.Error as error:
        message = f"cannot connect to {conninfo_label(conninfo)}: {str(error).strip().splitlines()[0]}"
        raise fail(message, ENVIRONMENT, "environment", as_json=as_json) from None
    try:
        with conn:
            document = status(conn)
    except MigrationError as error:
        raise _fail(str(error), EXIT_INVALID, as_json) from None
    except psycopg.Error as error:
        raise _fail(f"{str(error).strip().splitlines()[0]}", EXIT_FAILED, as_json) from None
    changed = any(r["state"] != "applied" and r["state"] != "pending" for r in document["migrations"])
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    else:
        render_status(Console(), document)
    if changed:
        raise typer.Exit(EXIT_FAILED)
