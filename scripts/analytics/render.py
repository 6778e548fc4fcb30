"""The text the `analytics` commands print: a run's outcome (strategy, reason, maintenance, what was applied) and
the status table."""

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from .runner import Outcome


def render_outcome(console: Console, outcome: Outcome) -> None:
    console.print(f"database: {outcome.database} (PostgreSQL {outcome.server_version})", highlight=False)
    console.print(f"strategy: [bold]{outcome.strategy}[/] - {outcome.reason}", highlight=False)
    console.print(f"maintenance: {outcome.maintenance}", highlight=False)
    if outcome.dry_run:
        if outcome.planned:
            console.print(f"dry run: would apply {len(outcome.planned)} (already applied: {outcome.skipped})")
            for line in outcome.planned:
                console.print(f"  {line}", highlight=False)
        else:
            console.print("dry run: nothing to apply")
        return
    if outcome.applied:
        console.print(f"applied {len(outcome.applied)}, already applied {outcome.skipped}")
    else:
        console.print(f"nothing to apply ({outcome.skipped} already applied)")
    for parent, children in sorted(outcome.partitions.items()):
        console.print(f"  {parent}: {children} partitions", highlight=False)


def render_status(console: Console, document: Mapping[str, Any]) -> None:
    console.print(f"database: {document['database']}, strategy: {document['strategy'] or 'none yet'}")
    table = Table(title="Analytics migrations")
    for column in ("version", "name", "file", "state", "applied at", "checksum"):
        table.add_column(column)
    for row in document["migrations"]:
        style = {"applied": "green", "pending": "yellow"}.get(row["state"], "bold red")
        table.add_row(
            row["version"], row["name"], row["file"] or "", f"[{style}]{row['state']}[/]",
            row["appliedAt"] or "", row["checksum"] or "",
        )  # fmt: skip
    console.print(table)
