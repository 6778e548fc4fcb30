"""`python -m scripts dr promote-region` as operators run it, in a subprocess against a moto server (RDS and
CloudWatch of both regions): the dry run reports each standby's lag and changes nothing; a lagging standby stops the
run with exit 1 before anything is touched, naming it."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scripts import PROJECT_DIR
from tests.scripts.dr.test_promote_region import DR, clients, seed_stack, status

pytestmark = pytest.mark.servers


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", "dr", "promote-region", *args],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_dry_run_then_a_refusal_for_a_lagging_standby(moto_server: str, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(seed_stack()))

    dry = run("--outputs", str(outputs), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "standby=cryb-test-pg-dr-00" in dry.stdout and "lag_seconds=2.0" in dry.stdout
    assert "nothing changed" in dry.stdout
    assert not (tmp_path / "outputs.promotion.json").exists()
    assert "ReadReplicaSourceDBInstanceIdentifier" in status("cryb-test-pg-dr-00")

    clients("cloudwatch", DR).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "cryb-test-pg-dr-00"}],
                "Timestamp": datetime.now(UTC),
                "Value": 600.0,
            }
        ],
    )
    refused = run("--outputs", str(outputs), "--max-lag-seconds", "120")
    assert refused.returncode == 1
    assert "cryb-test-pg-dr-00: lags 600 s (> --max-lag-seconds 120)" in " ".join(refused.stderr.split())
    for standby in ("cryb-test-pg-dr-00", "cryb-test-pg-dr-01"):
        assert "ReadReplicaSourceDBInstanceIdentifier" in status(standby)  # nothing promoted
