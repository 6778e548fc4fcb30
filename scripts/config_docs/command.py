"""`python -m scripts config-docs`: the command `__main__.py` registers; writes or checks docs/configuration.md."""

from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)


def config_docs(
    check: Annotated[
        bool, typer.Option(help="Exit 1 if docs/configuration.md is not current instead of writing.")
    ] = False,
) -> None:
    """Regenerate docs/configuration.md from the typed config model."""
    from .generator import DOC_PATH, render, write

    if check:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != render():
            err.print("docs/configuration.md is out of date: run `python -m scripts config-docs`")
            raise typer.Exit(1)
        return
    write()
    err.print(f"wrote {DOC_PATH}")
