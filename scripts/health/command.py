"""`python -m scripts health`: replication, shard balance and performance checks against every shard over psycopg
(docs/monitoring.md#health-command). Exit code 0 ok, 1 warning, 2 critical.

This module is the command: it reads the arguments and the thresholds file, then targets (targets.py) -> samples
(collect.py) -> report (report.py, from the pure checks) -> text (render.py) or JSON.
"""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console

from .collect import collect
from .render import render
from .report import evaluate
from .targets import Credentials, targets_from_dsns, targets_from_outputs
from .thresholds import Thresholds, threshold_problems

health_app = typer.Typer(add_completion=False, help="Replication, shard balance and performance health checks.")


err = Console(stderr=True)


def load_thresholds(path: Path | None) -> Thresholds:
    if path is None:
        return Thresholds()
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise typer.BadParameter(
            f"{path} is not YAML or JSON: {' '.join(str(error).split())}", param_hint="--thresholds"
        ) from None
    if not isinstance(document, dict):
        raise typer.BadParameter(f"{path}: must be a mapping of threshold keys", param_hint="--thresholds")
    try:
        return Thresholds.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(threshold_problems(error.errors()))  # type: ignore[arg-type]
        raise typer.BadParameter(f"{path}: {problems}", param_hint="--thresholds") from None


@health_app.command()
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
        typer.Option(
            "--thresholds",
            exists=True,
            dir_okay=False,
            help="YAML/JSON thresholds, camelCase keys (docs/monitoring.md#thresholds); unset keys keep the defaults.",
        ),
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
    sequential scans, XID age).

    Exit codes: 0 ok, 1 warning, 2 critical, 64 usage error, 69 environment error (e.g. no AWS credentials)."""
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
