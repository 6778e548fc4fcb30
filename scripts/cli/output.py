"""Output that goes to a pipe or a file (CI logs, `> report.txt`) is never cut to a terminal's width: rich would
truncate table cells (`127.0…`) and wrap long values mid-token at 80 columns. Tables still size to their content."""

from collections.abc import MutableMapping
from typing import TextIO

PIPED_WIDTH = 10_000
"""Wide enough for any value; rich lays tables out to their content, not to this width."""
HELP_WIDTH = 100
"""--help text is prose: wrapped at this width when it is not going to a terminal."""


def widen_piped_output(environ: MutableMapping[str, str], stdout: TextIO, stderr: TextIO) -> None:
    """Make every rich Console created after this call use PIPED_WIDTH when stdout or stderr is not a terminal
    (rich reads COLUMNS), unless the user set COLUMNS. Typer's help panels keep HELP_WIDTH."""
    if environ.get("COLUMNS", "").strip() or (stdout.isatty() and stderr.isatty()):
        return
    environ["COLUMNS"] = str(PIPED_WIDTH)
    try:
        import typer.rich_utils

        if typer.rich_utils.MAX_WIDTH is None:  # read from TERMINAL_WIDTH when typer was imported
            typer.rich_utils.MAX_WIDTH = HELP_WIDTH
    except ImportError:  # a typer without rich help: nothing to narrow
        pass
