"""The Patroni node's metrics agent (components/selfhosted/metrics_agent/agent.py) as pure functions; the file itself
runs on booted nodes against real Patroni and CloudWatch (moto) in tests/real/sandbox/test_analytics_cluster.py."""

import json
import subprocess
import sys
from typing import Any

import pytest

from components.selfhosted.metrics_agent import AGENT_FILE, NODE_DIMENSIONS, REPLICATION_LAG_BYTES
from components.selfhosted.metrics_agent.agent import MetricsConfig, metric_data, replication_lag_bytes, run

CONFIG = MetricsConfig("us-east-1", "cryb-db/selfhosted", "cryb-prod-analytics", "analytics-b", "https://x:8008")


def cluster(*members: dict[str, Any]) -> dict[str, Any]:
    return {"members": list(members), "scope": "analytics"}


LEADER = {"name": "analytics-a", "role": "leader", "state": "running", "timeline": 2}


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ({"name": "analytics-b", "role": "leader", "state": "running"}, 0.0),
        ({"name": "analytics-b", "role": "sync_standby", "state": "streaming", "lag": 0}, 0.0),
        ({"name": "analytics-b", "role": "replica", "state": "running", "lag": 3_145_728}, 3_145_728.0),
        ({"name": "analytics-b", "role": "replica", "state": "streaming", "lag": "unknown"}, None),
        ({"name": "analytics-b", "role": "replica", "state": "stopped", "lag": 10}, None),
        ({"name": "analytics-b", "role": "replica", "state": "starting"}, None),
        ({"name": "analytics-c", "role": "replica", "state": "running", "lag": 5}, None),  # another member
    ],
)
def test_the_lag_of_this_node_from_patronis_cluster_document(member: dict[str, Any], expected: float | None) -> None:
    assert replication_lag_bytes(cluster(LEADER, member), "analytics-b") == expected


def test_the_metric_carries_the_dimensions_the_alarms_watch() -> None:
    (datum,) = metric_data(CONFIG, 42.0)
    assert datum["MetricName"] == REPLICATION_LAG_BYTES and datum["Unit"] == "Bytes" and datum["Value"] == 42.0
    assert [d["Name"] for d in datum["Dimensions"]] == list(NODE_DIMENSIONS)
    assert [d["Value"] for d in datum["Dimensions"]] == ["cryb-prod-analytics", "analytics-b"]
    assert metric_data(CONFIG, None) == []


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_a_run_publishes_nothing_for_a_replica_patroni_cannot_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.selfhosted.metrics_agent.agent as agent

    answers = iter([cluster(LEADER, {"name": "analytics-b", "role": "replica", "state": "running", "lag": "unknown"})])
    monkeypatch.setattr(agent, "read_cluster", lambda url: next(answers))
    cloudwatch = FakeCloudWatch()
    assert run(CONFIG, cloudwatch) == [] and cloudwatch.calls == []


def test_the_file_runs_alone_and_fails_clearly_without_its_config(tmp_path: Any) -> None:
    """It is copied to the node as one file: standard library (and boto3) only, no import of the program."""
    missing = tmp_path / "missing.json"
    result = subprocess.run(
        [sys.executable, "-I", str(AGENT_FILE), "--config", str(missing)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and str(missing) in result.stderr
    (tmp_path / "bad.json").write_text(json.dumps({"region": "us-east-1"}))
    result = subprocess.run(
        [sys.executable, "-I", str(AGENT_FILE), "--config", str(tmp_path / "bad.json")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1 and "namespace" in result.stderr
