"""The health report (scripts/health/report.py) and how findings word values (findings.py)."""

import json

from scripts.health.findings import human_bytes, redact_query
from scripts.health.report import evaluate
from scripts.health.samples import (
    ShardSample,
    SlotRow,
)
from scripts.health.thresholds import GIB, MIB, Status
from tests.scripts.health.samples import TH


def test_report_status_is_the_worst_finding_and_lists_critical_first() -> None:
    ok = ShardSample("ok", size_bytes=MIB)
    warn = ShardSample("warn", slots=[SlotRow("old", "physical", False, 0, "reserved")])
    down = ShardSample("down", reachable=False, error="timeout")
    assert evaluate([ok], TH).status == Status.OK
    assert evaluate([ok, warn], TH).status == Status.WARNING
    report = evaluate([ok, warn, down], TH)
    assert (report.status, report.document["exitCode"], report.document["status"]) == (Status.CRITICAL, 2, "critical")
    assert [f["name"] for f in report.document["findings"]] == ["writer-unreachable", "inactive-slot"]
    assert json.loads(json.dumps(report.document))["thresholds"]["xidAge"] == {
        "warning": 500_000_000.0,
        "critical": 1_000_000_000.0,
    }


def test_redaction_and_units() -> None:
    assert (
        redact_query("alter role app password 'hunter2'  ;\n select 'it''s'")
        == "alter role app password '?' ; select '?'"
    )
    assert (human_bytes(512), human_bytes(3 * MIB), human_bytes(1.5 * GIB)) == ("512 B", "3.0 MiB", "1.5 GiB")
