"""Alarm thresholds follow the instance class (pure), and the monitoring config section validates them."""

import re

import pytest
from pydantic import ValidationError

from components.config.monitoring import SECRET_PLACEHOLDER, MonitoringConfig
from components.monitoring.alarm_thresholds import (
    GIB,
    AlarmSettings,
    cache_alarm_specs,
    cache_node_vcpu,
    check_metric_matches,
    connection_thresholds,
    evictions_threshold,
    rds_alarm_specs,
    rotation_alarm_specs,
    selfhosted_cache_alarm_specs,
    selfhosted_cluster_alarm_specs,
    selfhosted_node_alarm_specs,
    storage_latency_seconds,
)
from components.postgres.component import Metric
from components.postgres.tuning import INSTANCE_CLASSES, instance_class
from scripts import PROJECT_DIR

DOCS_PATH = PROJECT_DIR / "docs" / "monitoring.md"
DEFAULTS = AlarmSettings()
RDS_BASE = {"cpu", "connections-warning", "connections-critical", "freeable-memory", "free-storage", "db-load"}
RDS_BASE |= {"read-latency", "write-latency"}


def by_key(specs: list) -> dict:
    return {s.key: s for s in specs}


def test_prod_class_thresholds() -> None:
    """db.r7g.2xlarge: 8 vCPU, 64 GiB, max_connections 800 (100 per vCPU); 400 GiB io2."""
    specs = by_key(rds_alarm_specs(instance_class("db.r7g.2xlarge"), 400, "io2", "writer", DEFAULTS))
    assert specs["connections-warning"].threshold == 640
    assert specs["connections-critical"].threshold == 720
    assert specs["freeable-memory"].threshold == 16 * GIB
    assert specs["db-load"].threshold == 8
    assert specs["free-storage"].threshold == 40 * GIB
    assert specs["replication-slot-lag"].threshold == 40 * GIB
    assert specs["read-latency"].threshold == specs["write-latency"].threshold == 0.010
    assert specs["transaction-ids"].threshold == 1_000_000_000
    assert specs["cpu"].threshold == 90


@pytest.mark.parametrize("name", sorted(INSTANCE_CLASSES))
def test_every_class_gets_its_own_numbers(name: str) -> None:
    cls = instance_class(name)
    specs = by_key(rds_alarm_specs(cls, 100, "gp3", "replica", DEFAULTS))
    limit = min(cls.vcpu * 100, cls.memory_gib * 1024 // 10)
    limit = max(100, min(5000, limit))
    assert specs["connections-critical"].threshold == limit * 90 // 100
    assert specs["connections-warning"].threshold < specs["connections-critical"].threshold < limit
    assert specs["freeable-memory"].threshold == cls.memory_gib * GIB / 4
    assert specs["db-load"].threshold == cls.vcpu
    assert ("cpu-credits" in specs) == cls.burstable


def test_roles_get_the_alarms_that_apply_to_them() -> None:
    cls = instance_class("db.r6gd.large")
    writer = set(by_key(rds_alarm_specs(cls, 100, "gp3", "writer", DEFAULTS)))
    replica = set(by_key(rds_alarm_specs(cls, 100, "gp3", "replica", DEFAULTS)))
    cluster = set(by_key(rds_alarm_specs(cls, 100, "gp3", "cluster", DEFAULTS)))
    assert writer == RDS_BASE | {"transaction-ids", "replication-slot-lag"}
    assert replica == RDS_BASE | {"replica-lag"}  # XID age is the writer's; the replica mirrors it
    assert cluster == RDS_BASE | {"transaction-ids"}
    dev = set(by_key(rds_alarm_specs(instance_class("db.t4g.medium"), 20, "gp3", "writer", DEFAULTS)))
    assert dev == writer | {"cpu-credits"}


def test_severities_and_evaluation_follow_the_reference() -> None:
    specs = by_key(rds_alarm_specs(instance_class("db.r7g.xlarge"), 100, "gp3", "replica", DEFAULTS))
    critical = {k for k, s in specs.items() if s.severity == "critical"}
    assert critical == {"cpu", "connections-critical", "free-storage", "replica-lag"}
    assert (specs["freeable-memory"].evaluation_periods, specs["db-load"].datapoints_to_alarm) == (15, 15)
    assert (specs["replica-lag"].statistic, specs["replica-lag"].evaluation_periods) == ("Maximum", 10)
    assert specs["read-latency"].extended and not specs["cpu"].extended
    assert specs["free-storage"].comparison == specs["freeable-memory"].comparison == "LessThanThreshold"
    assert all(s.why and s.datapoints_to_alarm <= s.evaluation_periods for s in specs.values())


def test_settings_move_the_tunable_thresholds() -> None:
    settings = AlarmSettings(
        replica_lag_seconds=15, connections_warning_percent=70, connections_critical_percent=95, storage_latency_ms=5
    )
    specs = by_key(rds_alarm_specs(instance_class("db.r7g.xlarge"), 100, "gp3", "replica", settings))
    assert specs["replica-lag"].threshold == 15
    assert connection_thresholds(instance_class("db.r7g.xlarge"), settings) == (280, 380)
    assert specs["read-latency"].threshold == 0.005
    assert storage_latency_seconds("gp3", DEFAULTS) == 0.020
    with pytest.raises(ValueError, match="storage type 'st1'"):
        storage_latency_seconds("st1", DEFAULTS)


def test_cache_alarms_follow_node_type_policy_and_role() -> None:
    assert (cache_node_vcpu("cache.r7g.large"), cache_node_vcpu("cache.m7g.2xlarge")) == (2, 8)
    with pytest.raises(ValueError, match=r"cache\.r7g\.huge"):
        cache_node_vcpu("cache.r7g.huge")
    small = by_key(cache_alarm_specs("cache.t4g.small", "volatile-lru", True, DEFAULTS))
    assert set(small) == {"engine-cpu", "memory", "evictions", "connections", "auth-failures", "cpu", "replication-lag"}
    assert small["cpu"].threshold == 45  # 90 % / 2 vCPUs
    assert small["evictions"].threshold == 0 and small["evictions"].evaluation_periods == 1
    assert small["auth-failures"].threshold == 0 and small["auth-failures"].statistic == "Sum"
    big = by_key(cache_alarm_specs("cache.r7g.xlarge", "allkeys-lru", False, DEFAULTS))
    assert "cpu" not in big and "replication-lag" not in big
    assert big["evictions"].threshold == evictions_threshold("allkeys-lfu") == 1000
    assert {k for k, s in big.items() if s.severity == "critical"} == {"engine-cpu", "memory"}
    custom = by_key(cache_alarm_specs("cache.r7g.large", "noeviction", True, AlarmSettings(cache_connections=500)))
    assert custom["connections"].threshold == 500


def test_a_drifted_metric_definition_is_refused() -> None:
    spec = by_key(rds_alarm_specs(instance_class("db.r7g.xlarge"), 100, "gp3", "writer", DEFAULTS))["free-storage"]
    check_metric_matches(spec, Metric("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "x"}, "Minimum", 60))
    with pytest.raises(ValueError, match="FreeStorageSpace/Average/60s but the alarm expects FreeStorageSpace/Minimum"):
        check_metric_matches(spec, Metric("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": "x"}, "Average", 60))


def test_selfhosted_node_alarms() -> None:
    """i4i.2xlarge (8 vCPU, 64 GiB, 1875 GB NVMe): what pages is a node that is gone or a full /data."""
    specs = by_key(selfhosted_node_alarm_specs("i4i.2xlarge", DEFAULTS))
    assert list(specs) == [
        "status-check", "in-service", "cpu", "data-disk-warning", "data-disk-critical", "memory", "replication-lag"
    ]  # fmt: skip
    assert {k for k, s in specs.items() if s.severity == "critical"} == {
        "status-check",
        "in-service",
        "data-disk-critical",
    }
    numbers = {
        k: (s.metric_name, s.statistic, s.comparison, s.threshold, s.evaluation_periods) for k, s in specs.items()
    }
    assert numbers == {
        "status-check": ("StatusCheckFailed", "Maximum", "GreaterThanThreshold", 0, 2),  # >= 1 failed check
        "in-service": ("GroupInServiceInstances", "Minimum", "LessThanThreshold", 1, 2),
        "cpu": ("CPUUtilization", "Average", "GreaterThanThreshold", 80, 15),
        "data-disk-warning": ("disk_used_percent", "Maximum", "GreaterThanThreshold", 80, 5),
        "data-disk-critical": ("disk_used_percent", "Maximum", "GreaterThanThreshold", 90, 5),
        "memory": ("mem_used_percent", "Average", "GreaterThanThreshold", 90, 15),
        # Patroni's maximum_lag_on_failover: beyond it the node is no failover candidate
        "replication-lag": ("replication_lag_bytes", "Maximum", "GreaterThanThreshold", 1024 * 1024, 5),
    }
    assert all(s.datapoints_to_alarm == s.evaluation_periods and s.period_seconds == 60 for s in specs.values())
    assert "8 vCPUs of i4i.2xlarge" in specs["cpu"].why and "64 GiB" in specs["memory"].why
    assert "1875 GB" in specs["data-disk-warning"].why
    # a node's cpu and memory are not the RDS/cache sections of the same key
    assert (specs["cpu"].runbook_anchor, specs["memory"].runbook_anchor) == ("cpu-node", "memory-node")
    assert specs["status-check"].runbook_anchor == "status-check"


def test_selfhosted_disk_thresholds_follow_the_settings_and_must_be_ordered() -> None:
    specs = by_key(
        selfhosted_node_alarm_specs(
            "r7gd.xlarge", AlarmSettings(data_disk_warning_percent=70, data_disk_critical_percent=85)
        )
    )
    assert (specs["data-disk-warning"].threshold, specs["data-disk-critical"].threshold) == (70, 85)
    for warning, critical in ((90, 90), (95, 90), (0, 90), (80, 100)):
        settings = AlarmSettings(data_disk_warning_percent=warning, data_disk_critical_percent=critical)
        with pytest.raises(ValueError, match="need 0 < warning < critical < 100"):
            selfhosted_node_alarm_specs("i4i.xlarge", settings)
    with pytest.raises(ValueError):
        selfhosted_node_alarm_specs("m7i.xlarge", DEFAULTS)  # not an NVMe type


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading (as tests/project/test_docs.py computes it)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_explain_every_alarm() -> None:
    specs = [
        s
        for role in ("writer", "replica")
        for s in rds_alarm_specs(instance_class("db.t4g.medium"), 20, "gp3", role, DEFAULTS)
    ]
    specs += cache_alarm_specs("cache.t4g.small", "volatile-lru", True, DEFAULTS)
    specs += selfhosted_node_alarm_specs("i4i.xlarge", DEFAULTS)
    specs += selfhosted_cluster_alarm_specs()
    specs += selfhosted_cache_alarm_specs()
    specs += rotation_alarm_specs()
    text = DOCS_PATH.read_text()
    headings = set(re.findall(r"^#### `([a-z-]+)`", text, flags=re.MULTILINE))
    assert {s.key for s in specs} - headings == set(), "docs/monitoring.md needs a `#### `<key>`` section per alarm"
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
    assert {s.runbook_anchor for s in specs} - anchors == set(), "an alarm's runbook link points at no section"


# -- cryb-db:monitoring --------------------------------------------------------------------------------------------


def test_monitoring_config_defaults_and_settings() -> None:
    config = MonitoringConfig()
    assert config.pagerduty_integration_url is None and config.log_retention_days == 365
    assert config.alarm_settings() == AlarmSettings()
    custom = MonitoringConfig.model_validate({"replicaLagSeconds": 20, "cacheConnections": 2000})
    assert (custom.alarm_settings().replica_lag_seconds, custom.alarm_settings().cache_connections) == (20, 2000)


def test_monitoring_config_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="above connectionsWarningPercent"):
        MonitoringConfig.model_validate({"connectionsWarningPercent": 85, "connectionsCriticalPercent": 80})
    with pytest.raises(ValidationError, match="retention periods"):
        MonitoringConfig.model_validate({"logRetentionDays": 45})
    with pytest.raises(ValidationError, match="pagerDutyUrl"):
        MonitoringConfig.model_validate({"pagerDutyUrl": "https://x"})


def test_pagerduty_url_is_a_secret_that_errors_never_show() -> None:
    encrypted = MonitoringConfig.model_validate({"pagerdutyIntegrationUrl": {"secure": "v1:abc"}})
    assert encrypted.pagerduty_integration_url is not None
    assert encrypted.pagerduty_integration_url.get_secret_value() == SECRET_PLACEHOLDER
    assert encrypted.problems("prod") == []
    leaky = MonitoringConfig.model_validate({"pagerdutyIntegrationUrl": "http://events.example/integration/KEY123"})
    assert "KEY123" not in repr(leaky)
    (problem,) = leaky.problems("dev")
    assert "https://" in problem and "KEY123" not in problem
    assert MonitoringConfig().problems("dev") == []
    (missing,) = MonitoringConfig().problems("prod")
    assert "required in prod" in missing and "pulumi config set --path --secret" in missing
