"""The health report as text: a summary row per shard, the findings worst first, the notes, the status."""

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .findings import human_bytes
from .report import Report
from .samples import ShardSample
from .thresholds import Status

STATUS_STYLES = {Status.OK: "green", Status.WARNING: "yellow", Status.CRITICAL: "bold red"}


def _value(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float) and ("bytes" in name or name in ("inactive-slot", "slot-retained-wal")):
        return human_bytes(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def render(console: Console, report: Report, samples: Sequence[ShardSample]) -> None:
    summary = Table(title="Shards")
    for column in ("shard", "replicas", "slots", "size", "rows", "cache hit", "sessions", "xid age", "statements"):
        summary.add_column(column)
    for s in samples:
        if not s.reachable:
            summary.add_row(Text(s.shard), Text("unreachable", style="bold red"), *[""] * 7)
            continue
        ratio = s.blks_hit / (s.blks_hit + s.blks_read) if s.blks_hit + s.blks_read else None
        streaming = sum(1 for r in s.replicas if r.state == "streaming")
        expected = "" if s.expected_replicas is None else f"/{s.expected_replicas}"
        summary.add_row(
            Text(s.shard),
            f"{streaming}{expected} streaming",
            f"{len(s.slots)} ({sum(1 for slot in s.slots if not slot.active)} inactive)",
            human_bytes(s.size_bytes),
            f"{s.live_rows:,}",
            "" if ratio is None else f"{ratio:.2%}",
            str(len(s.sessions)),
            f"{s.xid_age:,}",
            "yes" if s.statements is not None else "n/a",
        )
    console.print(summary)
    if not report.findings:
        console.print("[green]All checks ok[/]")
    else:
        table = Table(title=f"Findings ({len(report.findings)})")
        for column in ("status", "shard", "check", "subject", "value", "threshold", "message"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            table.add_row(
                Text(f.status.label, style=STATUS_STYLES[f.status]),
                Text(f.shard),
                Text(f"{f.check}/{f.name}"),
                Text(f.subject),
                Text(_value(f.value, f.name)),
                Text(_value(f.threshold, f.name)),
                Text(f.message),
            )
        console.print(table)
    notes = {s.statements_note for s in samples if s.reachable and s.statements is None and s.statements_note}
    for note in sorted(notes):
        console.print(f"[dim]{note}[/]")
    console.print(Text(f"status: {report.status.label}", style=STATUS_STYLES[report.status]))
