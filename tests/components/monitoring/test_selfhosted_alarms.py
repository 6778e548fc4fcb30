"""Alarms, composite and dashboard of the self-hosted PostgreSQL nodes, on the graph of a small program in tmp_path
(one SelfHostedCluster of three nodes watched by Monitoring) until `__main__.py` passes its clusters to Monitoring.

The agent metrics are checked against what the node's own rendered CloudWatch agent config publishes (the dimension
sets the agent builds: raw dimensions plus its `aggregation_dimensions` roll-ups), so an alarm on a dimension set the
agent never sends fails here instead of sitting in INSUFFICIENT_DATA forever."""

import base64
import gzip
import json
import textwrap
from typing import Any

import pytest
import yaml

from components.monitoring.alarm_thresholds import AlarmSettings, selfhosted_node_alarm_specs
from components.monitoring.dashboards import referenced_metrics
from components.selfhosted.cloud_init import METRICS_AGENT_CONFIG, METRICS_NAMESPACE
from components.selfhosted.patroni_config import DATA_MOUNT
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from scripts.preview.policy_runner import POLICY_CONFIG_DIR, run_policies
from tests.selfhosted_programs import TAGS, cluster_args_source

NAME = "cryb-test-analytics"
INSTANCE_TYPE = "i4i.2xlarge"
NOTIFY = "arn:aws:sns:us-east-1:123456789012:warning"
PAGE = "arn:aws:sns:us-east-1:123456789012:critical"
ASG = "aws:autoscaling/group:Group"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json"

PROGRAM = """
import pulumi
from components.monitoring.alarm_thresholds import AlarmSettings
from components.monitoring.component import Monitoring
from components.selfhosted.patroni_config import DcsTiming
from components.selfhosted.component import SelfHostedCluster

cluster = SelfHostedCluster("{name}", {args})
monitoring = Monitoring(
    "cryb-test-monitoring",
    {{
        "postgres_shards": [],
        "postgres_allocated_storage_gb": 20,
        "postgres_storage_type": "gp3",
        "cache": None,
        "selfhosted_clusters": [cluster],
        "notify_topic_arn": "{notify}",
        "page_topic_arn": "{page}",
        "settings": AlarmSettings(),
        "dashboard_name": "cryb-db-test",
        "region": "us-east-1",
        "account_id": "123456789012",
        "tags": {tags!r},
    }},
)
pulumi.export("compositeAlarmNames", monitoring.composite_alarm_names)
pulumi.export("nodes", [g.resource for g in cluster.node_groups])
"""


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    program = tmp_path_factory.mktemp("selfhosted-alarms")
    (program / "__main__.py").write_text(
        PROGRAM.format(
            name=NAME,
            args=cluster_args_source(
                instance_type=INSTANCE_TYPE, image_ssm_parameter="/cryb-db/images/selfhosted-postgres"
            ),
            tags=TAGS,
            notify=NOTIFY,
            page=PAGE,
        )
    )
    config = program / "Pulumi.test.yaml"
    config.write_text(textwrap.dedent("config:\n  aws:region: us-east-1\n"))
    return evaluate("test", config, program_dir=program)


# -- what the CloudWatch agent publishes (aws/amazon-cloudwatch-agent: plugins/outputs/cloudwatch ProcessRollup) ----

# Dimensions the agent's Linux inputs give each metric before append_dimensions (`device` unless drop_device).
AGENT_RAW_DIMENSIONS = {"mem_used_percent": set(), "disk_used_percent": {"device", "fstype", "path"}}


def published_dimension_sets(agent: dict[str, Any], metric: str) -> list[frozenset[str]]:
    """The dimension-name sets the agent sends `metric` with: the raw set (+ appended, + `host` unless omitted), and
    each `aggregation_dimensions` set whose names the raw set has and which is smaller than it."""
    section = agent["metrics"]
    raw = set(AGENT_RAW_DIMENSIONS[metric])
    plugin = section["metrics_collected"]["disk" if metric.startswith("disk_") else "mem"]
    if plugin.get("drop_device"):
        raw.discard("device")
    raw |= set(section.get("append_dimensions", {}))
    if not section.get("append_dimensions") and not agent.get("agent", {}).get("omit_hostname"):
        raw.add("host")
    sets = [frozenset(raw)]
    for target in section.get("aggregation_dimensions", []):
        if set(target) <= raw and len(target) < len(raw):
            sets.append(frozenset(target))
    return sets


def agent_config(template: RecordedResource, path: str = AGENT_CONFIG) -> dict[str, Any]:
    text = gzip.decompress(base64.b64decode(template.inputs["userData"])).decode()
    files = {f["path"]: f["content"] for f in yaml.safe_load(text.split("\n", 1)[1])["write_files"]}
    return json.loads(files[path])


# -- helpers -------------------------------------------------------------------------------------------------------


def node_groups(ev: Evaluation) -> dict[str, RecordedResource]:
    """The nodes' auto-scaling groups by name (the mock names them after their logical name, as no name is set)."""
    return {g.name: g for g in ev.of_type(ASG)}


def alarms_of(ev: Evaluation, node: str) -> dict[str, dict[str, Any]]:
    return {
        a.inputs["name"].removeprefix(f"{node}-"): a.inputs
        for a in ev.of_type(ALARM)
        if a.inputs["tags"]["monitors"] == node
    }


# -- tests ---------------------------------------------------------------------------------------------------------


def test_each_asg_publishes_its_in_service_count_every_minute(watched: Evaluation) -> None:
    groups = node_groups(watched)
    assert sorted(groups) == [f"{NAME}-node-{letter}" for letter in "abc"]
    for group in groups.values():
        assert group.inputs["metricsGranularity"] == "1Minute"
        assert "GroupInServiceInstances" in group.inputs["enabledMetrics"]


def test_every_node_has_its_alarm_set_on_its_own_asg(watched: Evaluation) -> None:
    specs = {s.key: s for s in selfhosted_node_alarm_specs(INSTANCE_TYPE, AlarmSettings())}
    assert set(specs) == {
        "status-check", "in-service", "cpu", "data-disk-warning", "data-disk-critical", "memory", "replication-lag"
    }  # fmt: skip
    lag = specs.pop("replication-lag")  # {Cluster, Node}: test_the_metrics_agent_publishes_what_the_lag_alarm_watches
    namespaces = {
        "StatusCheckFailed": "AWS/EC2",
        "CPUUtilization": "AWS/EC2",
        "GroupInServiceInstances": "AWS/AutoScaling",
        "disk_used_percent": METRICS_NAMESPACE,
        "mem_used_percent": METRICS_NAMESPACE,
    }
    assert watched.outputs["nodes"] == sorted(node_groups(watched))
    for node in node_groups(watched):
        alarms = alarms_of(watched, node)
        assert set(alarms) == {*specs, lag.key}, node
        alarms.pop(lag.key)
        for key, spec in specs.items():
            alarm = alarms[key]
            assert (alarm["namespace"], alarm["metricName"]) == (namespaces[spec.metric_name], spec.metric_name)
            assert alarm["dimensions"]["AutoScalingGroupName"] == node  # this node's group, no other's
            expected_dims = {"AutoScalingGroupName", "path"} if spec.metric_name == "disk_used_percent" else None
            assert set(alarm["dimensions"]) == (expected_dims or {"AutoScalingGroupName"})
            assert (alarm["statistic"], alarm["threshold"], alarm["comparisonOperator"]) == (
                spec.statistic,
                spec.threshold,
                spec.comparison,
            )
            assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"], alarm["period"]) == (
                spec.evaluation_periods,
                spec.datapoints_to_alarm,
                60,
            )
            assert alarm["alarmActions"] == alarm["okActions"] == [NOTIFY] and alarm.get("actionsEnabled") is True
            assert alarm["tags"]["group"] == NAME and alarm["tags"]["severity"] == spec.severity
        assert alarms["data-disk-critical"]["dimensions"]["path"] == DATA_MOUNT
        assert alarms["cpu"]["alarmDescription"].endswith("docs/monitoring.md#cpu-node")
        assert alarms["status-check"]["alarmDescription"].endswith("docs/monitoring.md#status-check")


def test_agent_metric_alarms_watch_a_dimension_set_the_node_publishes(watched: Evaluation) -> None:
    templates = {t.id: t for t in watched.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    checked = 0
    for node, group in node_groups(watched).items():
        agent = agent_config(templates[group.inputs["launchTemplate"]["id"]])
        assert agent["metrics"]["namespace"] == METRICS_NAMESPACE
        assert agent["metrics"]["append_dimensions"] == {"AutoScalingGroupName": "${aws:AutoScalingGroupName}"}
        assert DATA_MOUNT in agent["metrics"]["metrics_collected"]["disk"]["resources"]
        for alarm in alarms_of(watched, node).values():
            if alarm["namespace"] != METRICS_NAMESPACE or alarm["metricName"] == "replication_lag_bytes":
                continue  # the metrics agent's, not the CloudWatch agent's (tested below)
            assert frozenset(alarm["dimensions"]) in published_dimension_sets(agent, alarm["metricName"]), alarm
            checked += 1
    assert checked == 3 * 3  # data-disk-warning, data-disk-critical, memory on each node


def test_the_metrics_agent_publishes_what_the_lag_alarm_watches(watched: Evaluation) -> None:
    """The replication-lag alarm of each node watches exactly the namespace, metric and {Cluster, Node} values the
    node's rendered metrics-agent config publishes with (the agent itself runs in tests/real/sandbox)."""
    templates = {t.id: t for t in watched.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    members = set()
    for node, group in node_groups(watched).items():
        config = agent_config(templates[group.inputs["launchTemplate"]["id"]], METRICS_AGENT_CONFIG)
        alarm = alarms_of(watched, node)["replication-lag"]
        assert (alarm["namespace"], alarm["metricName"]) == (config["namespace"], "replication_lag_bytes")
        assert alarm["dimensions"] == {"Cluster": config["cluster"], "Node": config["node"]}
        assert config["cluster"] == NAME and config["namespace"] == METRICS_NAMESPACE
        members.add(config["node"])
    assert members == {"analytics-a", "analytics-b", "analytics-c"}


def test_the_cluster_alarms_when_its_endpoints_have_no_healthy_node(watched: Evaluation) -> None:
    """No leader behind the writer NLB pages (through the composite); no replica behind the reader NLB warns."""
    alarms = alarms_of(watched, NAME)
    assert set(alarms) == {"no-writer", "no-reader"}
    for key, role, severity, minutes in (("no-writer", "writer", "critical", 2), ("no-reader", "reader", "warning", 5)):
        alarm = alarms[key]
        assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
            "AWS/NetworkELB",
            "HealthyHostCount",
            "Minimum",
        )
        assert alarm["dimensions"] == {
            "TargetGroup": f"targetgroup/{NAME}-{role}-tg/fedcba9876543210",
            "LoadBalancer": f"net/{NAME}-{role}/0123456789abcdef",
        }
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1.0)
        assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"], alarm["period"]) == (minutes, minutes, 60)
        assert alarm["treatMissingData"] == "breaching"  # the NLB reports every minute: silence is not health
        assert alarm["tags"]["severity"] == severity and alarm["tags"]["group"] == NAME
        assert alarm["alarmActions"] == alarm["okActions"] == [NOTIFY]
        assert alarm["alarmDescription"].endswith(f"docs/monitoring.md#{key}")


def test_one_paging_composite_per_cluster_from_the_critical_node_alarms(watched: Evaluation) -> None:
    (composite,) = watched.of_type(COMPOSITE)
    inputs = composite.inputs
    assert inputs["alarmName"] == f"{NAME}-unhealthy"
    assert watched.outputs["compositeAlarmNames"] == [f"{NAME}-unhealthy"]
    assert inputs["alarmActions"] == inputs["okActions"] == [PAGE] and inputs["actionsEnabled"] is True
    children = sorted(part.removeprefix('ALARM("').removesuffix('")') for part in inputs["alarmRule"].split(" OR "))
    assert children == sorted(
        [
            f"{node}-{key}"
            for node in node_groups(watched)
            for key in ("status-check", "in-service", "data-disk-critical")
        ]
        + [f"{NAME}-no-writer"]  # the cluster's: no leader behind the writer endpoint
    )
    # the rule's children exist before CloudWatch sees it
    alarm_urns = {a.urn for a in watched.of_type(ALARM) if a.inputs["name"] in children}
    assert len(alarm_urns) == len(children)


def test_dashboard_plots_the_alarmed_node_metrics_once_each(watched: Evaluation) -> None:
    (dashboard,) = watched.of_type(DASHBOARD)
    body = json.loads(dashboard.inputs["dashboardBody"])
    plotted = referenced_metrics(body)
    alarmed = {
        (a.inputs["namespace"], a.inputs["metricName"], json.dumps(a.inputs["dimensions"], sort_keys=True))
        for a in watched.of_type(ALARM)
    }
    assert {(n, m, json.dumps(d, sort_keys=True)) for n, m, d in plotted} == alarmed
    node_metrics = [d for n, m, d in plotted if n != "AWS/NetworkELB" and m != "replication_lag_bytes"]
    assert {d["Node"] for n, m, d in plotted if m == "replication_lag_bytes"} == {f"analytics-{x}" for x in "abc"}
    assert {d["AutoScalingGroupName"] for d in node_metrics} == set(node_groups(watched))  # resolved names
    endpoints = sorted(d["TargetGroup"] for n, _, d in plotted if n == "AWS/NetworkELB")
    assert endpoints == [f"targetgroup/{NAME}-{role}-tg/fedcba9876543210" for role in ("reader", "writer")]
    graphs = {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"}
    disk = graphs["Self-hosted node disk_used_percent"]
    assert len(disk["metrics"]) == 3  # warning and critical share each node's series
    assert [row[-1]["label"] for row in disk["metrics"]] == sorted(node_groups(watched))
    assert [line["label"] for line in disk["annotations"]["horizontal"]] == ["warning > 80", "critical > 90"]
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert alarm_widget["properties"]["alarms"] == [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{NAME}-unhealthy"]


def test_node_alarms_satisfy_the_alarm_rules(watched: Evaluation) -> None:
    violations = run_policies(watched, POLICY_CONFIG_DIR / "prod.json")
    assert [v for v in violations if v["policy"] == "cloudwatch-alarm-has-actions"] == []


def test_prod_declares_a_cluster_to_watch(prod: Evaluation) -> None:
    """The real prod stack has self-hosted nodes (the analytics cluster): what this file's program stands in for."""
    groups = [g for g in prod.of_type(ASG) if any(a.type.endswith("SelfHostedCluster") for a in prod.ancestors(g))]
    assert len(groups) >= 3
    assert all(g.inputs["metricsGranularity"] == "1Minute" for g in groups)
