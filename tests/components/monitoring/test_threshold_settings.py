"""Every config key that reaches an alarm threshold, set to a value no other key (and no default) has, through the real
program: a setting wired to another key's value fails here. The expected numbers are worked out by hand below."""

from pathlib import Path
from typing import Any

import pytest

from scripts.preview.mock_engine import Evaluation
from tests.helpers import evaluate_with, stack_document

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GIB = 1024**3

# Distinct from each other and from every default (60 s, 80 %, 90 %, by storage type, 10000, 60 s).
MONITORING = {
    "replicaLagSeconds": 45,
    "connectionsWarningPercent": 70,
    "connectionsCriticalPercent": 85,
    "storageLatencyMs": 7,
    "cacheConnections": 3000,
    "cacheReplicationLagSeconds": 17,
}
POSTGRES = {"allocatedStorageGb": 600}  # prod: 400
CACHE = {"nodeType": "cache.r7g.xlarge", "maxmemoryPolicy": "allkeys-lru"}  # defaults: cache.r7g.large, volatile-lru


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    config = stack_document("prod")["config"]
    overrides: dict[str, Any] = {
        "cryb-db:monitoring": {**config["cryb-db:monitoring"], **MONITORING},
        "cryb-db:postgres": {**config["cryb-db:postgres"], **POSTGRES},
        "cryb-db:cache": {**config.get("cryb-db:cache", {}), **CACHE},
        "cryb-db:dr": {**config.get("cryb-db:dr", {}), "lagAlarmSeconds": 90},  # the DR standbys' own setting
    }
    return evaluate_with(Path(tmp_path_factory.mktemp("tuned")), "prod", overrides)


def thresholds(ev: Evaluation, namespace: str, metric: str) -> set[float]:
    return {
        a.inputs["threshold"]
        for a in ev.of_type(ALARM)
        if a.inputs.get("namespace") == namespace and a.inputs["metricName"] == metric
    }


@pytest.mark.parametrize(
    ("namespace", "metric", "expected"),
    [
        # db.r7g.2xlarge: 8 vCPUs, 64 GiB -> max_connections min(8 x 100, 64 GiB / 10 MiB) = 800
        ("AWS/RDS", "DatabaseConnections", {800 * 70 // 100, 800 * 85 // 100}),  # 560, 680
        ("AWS/RDS", "ReplicaLag", {45, 90}),  # in-region replicas (monitoring), cross-Region standbys (dr)
        ("AWS/RDS", "ReadLatency", {0.007}),
        ("AWS/RDS", "WriteLatency", {0.007}),
        ("AWS/RDS", "FreeStorageSpace", {60 * GIB}),  # 10 % of 600 GiB
        ("AWS/RDS", "OldestReplicationSlotLag", {60 * GIB}),
        ("AWS/ElastiCache", "CurrConnections", {3000}),
        ("AWS/ElastiCache", "ReplicationLag", {17}),
        ("AWS/ElastiCache", "Evictions", {1000}),  # allkeys-*: evicting is the cache's job up to 1000 a minute
        ("AWS/ElastiCache", "CPUUtilization", set()),  # 4 vCPUs: the host-CPU alarm is only for <= 2 vCPUs
    ],
)
def test_each_setting_reaches_its_own_alarm(tuned: Evaluation, namespace: str, metric: str, expected: set) -> None:
    assert sorted(thresholds(tuned, namespace, metric)) == pytest.approx(sorted(expected))


def test_the_shipped_stack_keeps_the_defaults(prod: Evaluation) -> None:
    """The same alarms at the defaults, so the test above shows the settings moved them."""
    assert thresholds(prod, "AWS/RDS", "DatabaseConnections") == {640, 720}
    assert thresholds(prod, "AWS/RDS", "ReplicaLag") == {60}
    assert thresholds(prod, "AWS/RDS", "ReadLatency") == {0.01}  # io2
    assert thresholds(prod, "AWS/RDS", "FreeStorageSpace") == {40 * GIB}
    assert thresholds(prod, "AWS/ElastiCache", "CurrConnections") == {10000}
    assert thresholds(prod, "AWS/ElastiCache", "ReplicationLag") == {60}
    assert thresholds(prod, "AWS/ElastiCache", "Evictions") == {0}
    assert thresholds(prod, "AWS/ElastiCache", "CPUUtilization") == {45}  # 90 % / 2 vCPUs
