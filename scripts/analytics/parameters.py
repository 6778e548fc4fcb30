"""The parameters the SQL reads as transaction-local settings `cryb_analytics.<name>` (retention, premake,
compression, the pg_cron schedule), validated before any connection."""

import re
from dataclasses import dataclass
from typing import ClassVar

from .errors import MigrationError

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


@dataclass(frozen=True)
class Parameters:
    """What the SQL reads as `cryb_analytics.<name>`; validated before any connection."""

    retention_days: int = 90
    premake_days: int = 7
    compress_after_days: int = 7
    cron_schedule: str = "5 * * * *"

    LIMITS: ClassVar[dict[str, tuple[int, int]]] = {
        "retention_days": (1, 3650),
        "premake_days": (1, 90),
        "compress_after_days": (1, 3650),
    }

    def validate(self) -> None:
        """Every problem at once, each naming the field, the value and what is allowed."""
        problems = []
        for name, (low, high) in self.LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.append(f"{name}: {value!r} is not allowed (allowed: an integer from {low} to {high})")
        if not problems and self.compress_after_days >= self.retention_days:
            problems.append(
                f"compress_after_days: {self.compress_after_days} is not allowed (allowed: less than "
                f"retention_days, {self.retention_days}; chunks would be dropped before they are compressed)"
            )
        fields = self.cron_schedule.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            problems.append(
                f"cron_schedule: {self.cron_schedule!r} is not allowed (allowed: five cron fields of digits, "
                "'*', '-', ',' and '/', e.g. '5 * * * *'; pg_cron 1.4 has no seconds)"
            )
        if problems:
            raise MigrationError("invalid parameters: " + "; ".join(problems))

    def settings(self, use_cron: bool, partman_version: str | None = None) -> dict[str, str]:
        """The `cryb_analytics.*` settings the SQL reads (and the repeatable migrations' checksums cover)."""
        major = partman_version.split(".", 1)[0] if partman_version else "0"
        return {
            "retention_days": str(self.retention_days),
            "premake_days": str(self.premake_days),
            "compress_after_days": str(self.compress_after_days),
            "cron_schedule": self.cron_schedule,
            "use_cron": "on" if use_cron else "off",
            "partman_major": major if major.isdigit() else "0",
        }
