"""A finding (which check, which test, which shard and subject, how bad, why) and the helpers that word them:
byte sizes, redacted statement texts, the limit a status crossed. Imports thresholds only."""

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .thresholds import Above, Below, Status

Check = Literal["connectivity", "replication", "balance", "performance"]


@dataclass(frozen=True)
class Finding:
    check: Check
    name: str
    """Which test, e.g. `replica-lag-bytes`, `inactive-slot`, `idle-in-transaction` (docs/monitoring.md)."""
    shard: str
    subject: str
    status: Status
    message: str
    value: float | str | None = None
    threshold: float | None = None

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.label}


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, default=Status.OK)


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def redact_query(text: str, limit: int = 120) -> str:
    """Statement text safe to print: string literals (values, maybe passwords) become '?', whitespace collapses."""
    return " ".join(_LITERAL.sub("'?'", text).split())[:limit]


def human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def crossed_limit(limit: Above | Below, status: Status) -> float:
    return limit.critical if status == Status.CRITICAL else limit.warning
