"""The drill's record and report: one result per shard, the run's summary (RTO, RPO, scratch instances left), the
Markdown and JSON files under reports/ and the table printed at the end."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from scripts.reports.tables import markdown_table, rich_table


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass
class ShardResult:
    shard: str
    source_instance: str
    scratch_instance: str
    status: str = "failed"
    error: str | None = None
    target_time: str | None = None
    latest_restorable_time_at_start: str | None = None
    rpo_seconds: float | None = None
    marker_started_at: str | None = None
    marker_acked_at: str | None = None
    waited_for_restorable_seconds: float | None = None
    restore_request: dict[str, Any] | None = None
    restore_seconds: float | None = None
    verify_seconds: float | None = None
    rto_seconds: float | None = None
    drill_seconds: float | None = None
    verification: dict[str, Any] | None = None
    cleanup: str = "not attempted"
    cleanup_seconds: float | None = None


_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


def camel_keys(value: Any) -> Any:
    """snake_case keys -> camelCase, recursively; other keys (AWS's `DBInstanceIdentifier`) are left as they are."""
    if isinstance(value, dict):
        return {_camel(k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _camel(key: Any) -> Any:
    if not isinstance(key, str) or not _SNAKE.match(key):
        return key
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


@dataclass
class DrillReport:
    run_id: str
    started_at: str
    finished_at: str | None
    region: str | None
    outputs_file: str | None
    settings: dict[str, Any]
    shards: list[ShardResult]

    def summary(self) -> dict[str, Any]:
        rtos = [s.rto_seconds for s in self.shards if s.rto_seconds is not None]
        rpos = [s.rpo_seconds for s in self.shards if s.rpo_seconds is not None]
        return {
            "passed": sum(s.status == "passed" for s in self.shards),
            "failed": sum(s.status != "passed" for s in self.shards),
            "max_rto_seconds": max(rtos) if rtos else None,
            "max_rpo_seconds": max(rpos) if rpos else None,
            "scratch_instances_left": [s.scratch_instance for s in self.shards if s.cleanup.startswith("FAILED")],
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON report, in the stack outputs' key style (camelCase; AWS's own names in `restoreRequest` stay)."""
        return camel_keys(
            {
                "kind": "cryb-db dr-drill",
                "version": 2,  # 2: camelCase keys
                "run_id": self.run_id,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "region": self.region,
                "outputs_file": self.outputs_file,
                "settings": self.settings,
                "summary": self.summary(),
                "shards": [asdict(s) for s in self.shards],
            }
        )

    def to_markdown(self) -> str:
        summary = self.summary()
        verdict = "PASSED" if not summary["failed"] and self.shards else "FAILED"
        lines = [
            f"# DR drill {self.run_id}: {verdict}",
            "",
            f"Started {self.started_at}, finished {self.finished_at}, region {self.region or '-'}; "
            f"{summary['passed']} passed, {summary['failed']} failed.",
            "",
            "RTO: restore requested -> restored instance available and verified. "
            "RPO: drill start minus the instance's latest restorable time (data a restore would lose now).",
            "",
            markdown_table(SHARD_HEADERS, [_shard_row(s) for s in self.shards]).rstrip("\n"),
        ]
        for s in self.shards:
            lines += ["", f"## {s.shard}", ""]
            v = s.verification
            if v:
                lines += [
                    f"- marker ({v['marker_expected']} expected): {'found' if v['marker_found'] else 'not found'}",
                    f"- canary checksum: primary `{(v['canary_primary'] or ['', ''])[1]}`, "
                    f"restored `{(v['canary_restored'] or ['', ''])[1]}`",
                    f"- rows written around the target: {v['ticks_written']}; committed before it "
                    f"{v['ticks_expected_present']} (missing {len(v['ticks_missing'])}), started after it "
                    f"{v['ticks_expected_absent']} (present {len(v['ticks_unexpected'])}), in a commit window "
                    f"{v['ticks_in_commit_window']}",
                ]
            lines.append(f"- waited for the target to become restorable: {_num(s.waited_for_restorable_seconds)} s")
            if s.error:
                lines.append(f"- **error**: {s.error}")
        return "\n".join(lines) + "\n"


SHARD_HEADERS = [
    "shard",
    "status",
    "RTO s",
    "RPO s",
    "restore s",
    "verify s",
    "target (UTC)",
    "scratch instance",
    "cleanup",
]


def _shard_row(s: ShardResult) -> list[str]:
    times = [_num(s.rto_seconds), _num(s.rpo_seconds), _num(s.restore_seconds), _num(s.verify_seconds)]
    scratch = "-" if s.cleanup == "not created" else s.scratch_instance  # a name no instance ever had
    return [s.shard, s.status, *times, s.target_time or "-", scratch, s.cleanup]


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def write_report(report: DrillReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"dr-drill-{report.run_id}"
    markdown, document = stem.with_suffix(".md"), stem.with_suffix(".json")
    markdown.write_text(report.to_markdown())
    document.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return markdown, document


def print_summary(console: Console, report: DrillReport, markdown: Path, document: Path) -> None:
    rows = [
        [s.shard, s.status, _num(s.rto_seconds), _num(s.rpo_seconds), s.cleanup, s.error or ""] for s in report.shards
    ]
    headers = ["shard", "status", "RTO s", "RPO s", "cleanup", "error"]
    console.print(rich_table(f"DR drill {report.run_id}", headers, rows))
    console.print(f"report: {markdown} and {document}")
