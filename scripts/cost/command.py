"""`python -m scripts prices`: refresh a price table from the AWS Pricing API; print a preview document's cost
section as Markdown (the pull-request comment). boto3 loads only inside `refresh`."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .prices import PRICES_DIR, PriceTableError, available_regions, load_table, table_path

prices_app = typer.Typer(no_args_is_help=True, help="Price tables of the cost estimate (docs/cost.md).")
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@prices_app.command()
def refresh(
    region: Annotated[str, typer.Option(help="AWS region whose table to rebuild.")] = "us-east-1",
    prices_dir: Annotated[Path, typer.Option(help="Directory of the tables.", file_okay=False)] = PRICES_DIR,
) -> None:
    """Rebuild prices/<region>.json with the AWS Pricing API (needs AWS credentials allowed pricing:GetProducts)."""
    import boto3

    from .refresh import PRICING_API_REGION, RefreshError, refresh_table

    known = boto3.Session().get_available_regions("rds")
    if region not in known:
        raise _fail(f"unknown region {region!r}: not an AWS region (e.g. us-east-1, us-west-2)")
    try:
        base = load_table(region, prices_dir).data
    except PriceTableError:
        regions = available_regions(prices_dir)
        if not regions:
            raise _fail(f"no price table in {prices_dir} to start from") from None
        base = load_table(regions[0], prices_dir).data  # its keys and the prices the API does not refresh
    client = boto3.client("pricing", region_name=PRICING_API_REGION)
    try:
        table = refresh_table(client, region, base)
    except RefreshError as exc:
        raise _fail(str(exc)) from None
    path = table_path(region, prices_dir)
    path.write_text(json.dumps(table, indent=2) + "\n")
    Console().print(f"wrote {path} (as of {table['as_of']})")


@prices_app.command()
def summary(
    document: Annotated[Path, typer.Argument(help="A `python -m scripts preview --json` document.")],
) -> None:
    """Print the cost section of a preview document as Markdown (what the pull-request workflow posts)."""
    from .render import markdown

    if not document.is_file():
        raise _fail(f"no such preview document: {document}")
    try:
        parsed = json.loads(document.read_text())
    except json.JSONDecodeError as exc:
        raise _fail(f"{document} is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or "cost" not in parsed:
        raise _fail(f"{document} has no `cost` key (a preview --json document of this version has one)")
    print(markdown(str(parsed.get("stack")), parsed["cost"]), end="")
