"""`python -m scripts roles apply`: the Typer app (loaded lazily by scripts/__main__.py)."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from psycopg.conninfo import make_conninfo
from rich.console import Console

from .apply import apply_roles
from .plan import OutputsError, targets_from_outputs

roles_app = typer.Typer(no_args_is_help=True, help="Least-privilege database roles (docs/postgres.md#roles).")
console = Console()


@roles_app.callback()
def roles() -> None:
    """Least-privilege database roles (docs/postgres.md#roles)."""


def _read_secret(arn: str) -> dict[str, Any]:
    import boto3

    region = arn.split(":")[3]
    text = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)["SecretString"]
    return json.loads(text)


@roles_app.command("apply")
def apply(
    outputs: Annotated[Path, typer.Option(help="`pulumi stack output --json`", exists=True, dir_okay=False)],
    sslmode: Annotated[str, typer.Option(help="libpq sslmode for the admin connections")] = "verify-full",
    sslrootcert: Annotated[Path | None, typer.Option(help="CA bundle (RDS: the region's bundle)")] = None,
) -> None:
    """Create app, readonly, monitor and migrator on every shard and self-hosted cluster (idempotent), set their
    passwords from their secrets and enable pgaudit. Exit 0 when every database is done, 1 otherwise, 2 on a bad
    outputs file."""
    try:
        targets = targets_from_outputs(json.loads(outputs.read_text()))
    except (OutputsError, json.JSONDecodeError) as exc:
        console.print(f"[red]{outputs}: {exc}[/red]")
        raise typer.Exit(2) from None
    failed = 0
    for target in targets:
        try:
            admin = _read_secret(target.admin_secret_arn)
            tls = {"sslmode": sslmode, **({"sslrootcert": str(sslrootcert)} if sslrootcert else {})}
            conninfo = make_conninfo(
                host=target.host, port=target.port, dbname=target.database, user=admin["username"], **tls
            )
            secrets = {role: _read_secret(arn) for role, arn in target.role_secret_arns.items()}
            done = apply_roles(
                conninfo=conninfo, admin_password=admin["password"], database=target.database, secrets=secrets,
                name=target.name,
            )  # fmt: skip
            console.print(f"{target.name}: roles {', '.join(done.roles)}; passwords set; pgaudit on")
        except Exception as exc:  # noqa: BLE001 - one database failing must not stop the others
            failed += 1
            console.print(f"[red]{target.name}: {type(exc).__name__}: {exc}[/red]")
    raise typer.Exit(1 if failed else 0)
