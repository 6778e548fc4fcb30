"""`python -m scripts preview-diff BEFORE AFTER`: compare two preview documents (refactorings must print none)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

EXIT_DIFFERENT = 1


def preview_diff(
    before: Annotated[Path, typer.Argument(help="A `preview --json` document.", exists=True, dir_okay=False)],
    after: Annotated[Path, typer.Argument(help="Another one, e.g. after a change.", exists=True, dir_okay=False)],
) -> None:
    """Print every difference between two preview documents (resources matched by URN, then outputs and the
    policy report). Exit 0 when they are identical, 1 when they differ."""
    from .diff import preview_differences

    differences = preview_differences(json.loads(before.read_text()), json.loads(after.read_text()))
    console = Console(emoji=False, highlight=False, soft_wrap=True)
    for difference in differences:
        console.print(f"{difference.where}: {difference.before!r} -> {difference.after!r}", markup=False)
    console.print(f"{len(differences)} difference(s)", markup=False)
    if differences:
        raise typer.Exit(EXIT_DIFFERENT)
