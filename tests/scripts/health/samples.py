"""Samples and helpers the health check tests share: default thresholds, finding names, table and session rows."""

from scripts.health.samples import SessionRow, TableRow
from scripts.health.thresholds import Status, Thresholds

TH = Thresholds()


def names(findings: list, status: Status | None = None) -> list[tuple[str, str]]:
    return [(f.name, f.subject) for f in findings if status is None or f.status == status]


def table(name: str, rows: int, seq: int = 0, idx: int = 0) -> TableRow:
    return TableRow(name, rows, seq, seq * rows, idx)


def session(pid: int, state: str, seconds: float, query: str = "select 1") -> SessionRow:
    return SessionRow(pid, "app", "api", state, seconds, seconds, seconds, query)
