"""The stack dashboard: pure layout from the planned alarms, and on the recorded graph it plots only metrics of
resources that exist there."""

import json
from typing import Any

from components.cache.component import Metric as CacheMetric
from components.monitoring.alarm_thresholds import (
    AlarmSettings,
    PlannedAlarm,
    Role,
    cache_alarm_specs,
    rds_alarm_specs,
    selfhosted_node_alarm_specs,
)
from components.monitoring.dashboards import GRID_WIDTH, dashboard_body, dashboard_url, metric_row, referenced_metrics
from components.postgres.component import Metric
from components.postgres.tuning import instance_class
from components.selfhosted.component import Metric as SelfHostedMetric
from components.selfhosted.patroni_config import DATA_MOUNT
from scripts.preview.mock_engine import MOCK_ACCOUNT_ID, Evaluation
from tests.components.monitoring.test_component import cache_stack  # noqa: F401 - fixture

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"


def planned_postgres(ident: str, role: Role = "writer") -> list[PlannedAlarm]:
    specs = rds_alarm_specs(instance_class("db.r7g.large"), 100, "gp3", role, AlarmSettings())
    return [
        PlannedAlarm(
            ident,
            "shard-0",
            "postgres",
            s,
            Metric("AWS/RDS", s.metric_name, {"DBInstanceIdentifier": ident}, s.statistic, s.period_seconds),
        )
        for s in specs
    ]


def planned_cache(member: str) -> list[PlannedAlarm]:
    return [
        PlannedAlarm(
            member,
            "c-0001",
            "cache",
            s,
            CacheMetric("AWS/ElastiCache", s.metric_name, {"CacheClusterId": member}, s.statistic),
        )
        for s in cache_alarm_specs("cache.r7g.large", "volatile-lru", True, AlarmSettings())
    ]


def body_of(ev: Evaluation) -> dict[str, Any]:
    """The stack's dashboard (the DR standby cluster's, in the DR region, is not this one)."""
    (dashboard,) = [d for d in ev.of_type(DASHBOARD) if not d.inputs["dashboardName"].endswith("-dr")]
    return json.loads(dashboard.inputs["dashboardBody"])


def metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["widgets"] if w["type"] == "metric"]


# -- pure ----------------------------------------------------------------------------------------------------------


def test_sections_graph_every_alarmed_metric_once_with_thresholds() -> None:
    planned = planned_postgres("pg-0") + planned_postgres("pg-0-replica-1", "replica") + planned_cache("c-0001-002")
    body = dashboard_body("us-east-1", "111122223333", planned, ["shard-0-unhealthy"], "cryb-db-test")
    headers = [w["properties"]["markdown"].splitlines()[0] for w in body["widgets"] if w["type"] == "text"]
    assert headers == ["# cryb-db-test", "## Replication", "## Capacity"]
    titles = [w["properties"]["title"] for w in metric_widgets(body)]
    assert len(titles) == len(set(titles)) == len({(p.kind, p.spec.metric_name) for p in planned})
    graphs = {w["properties"]["title"]: w["properties"] for w in metric_widgets(body)}
    graph = graphs["PostgreSQL DatabaseConnections"]
    # warning and critical alarms share one series per member; both thresholds are drawn
    assert [row[3] for row in graph["metrics"]] == ["pg-0", "pg-0-replica-1"]
    assert [line["label"] for line in graph["annotations"]["horizontal"]] == ["warning > 160", "critical > 180"]
    assert graphs["PostgreSQL ReadLatency"]["metrics"][0][-1] == {"label": "pg-0", "stat": "p90", "period": 60}
    (alarms,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert alarms["properties"]["alarms"] == ["arn:aws:cloudwatch:us-east-1:111122223333:alarm:shard-0-unhealthy"]


def planned_selfhosted(resource: str) -> list[PlannedAlarm]:
    return [
        PlannedAlarm(
            resource,
            "cluster",
            "selfhosted",
            s,
            SelfHostedMetric("ns", s.metric_name, {"AutoScalingGroupName": f"{resource}-asg"}, s.statistic),
        )
        for s in selfhosted_node_alarm_specs("i4i.xlarge", AlarmSettings())
    ]


def test_selfhosted_nodes_are_graphed_in_overview_and_capacity() -> None:
    planned = planned_selfhosted("node-a") + planned_selfhosted("node-b")
    body = dashboard_body("us-east-1", "111122223333", planned, ["cluster-unhealthy"], "t")
    sections: dict[str, list[str]] = {}
    current = ""
    for widget in body["widgets"]:
        if widget["type"] == "text":
            current = widget["properties"]["markdown"].splitlines()[0]
        elif widget["type"] == "metric":
            sections.setdefault(current, []).append(widget["properties"]["title"])
    assert sections == {
        "# t": [
            "Self-hosted node StatusCheckFailed",
            "Self-hosted node GroupInServiceInstances",
            "Self-hosted node CPUUtilization",
        ],
        "## Replication": ["Self-hosted node replication_lag_bytes"],
        "## Capacity": ["Self-hosted node disk_used_percent", "Self-hosted node mem_used_percent"],
    }
    graphs = {w["properties"]["title"]: w["properties"] for w in metric_widgets(body)}
    disk = graphs["Self-hosted node disk_used_percent"]
    assert [row[-1]["label"] for row in disk["metrics"]] == ["node-a", "node-b"]  # one series per node
    assert [line["value"] for line in disk["annotations"]["horizontal"]] == [80, 90]


def test_widgets_tile_the_grid_without_overlap() -> None:
    planned = planned_postgres("pg-0") + planned_cache("c-0001-001") + planned_selfhosted("node-a")
    body = dashboard_body("us-east-1", "111122223333", planned, ["a-unhealthy"], "t")
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["x"] + widget["width"] <= GRID_WIDTH
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & area, widget
        cells |= area


def test_metric_rows_and_urls() -> None:
    metric = Metric("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "x", "Role": "WRITER"}, "Average", 60)
    row = metric_row(metric, "x")
    assert row == [
        "AWS/RDS",
        "CPUUtilization",
        "DBInstanceIdentifier",
        "x",
        "Role",
        "WRITER",
        {"label": "x", "stat": "Average", "period": 60},
    ]
    assert referenced_metrics({"widgets": [{"properties": {"metrics": [row]}}]}) == [
        ("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": "x", "Role": "WRITER"})
    ]
    assert dashboard_url("eu-west-1", "cryb-db-prod") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/cryb-db-prod"
    )


def test_empty_plan_still_renders_the_overview() -> None:
    body = dashboard_body("us-east-1", "1", [], [], "empty")
    assert [w["type"] for w in body["widgets"]] == ["text"]


# -- on the recorded graph -----------------------------------------------------------------------------------------


def cache_members(ev: Evaluation) -> set[str]:
    """Node ids ElastiCache gives the members of every recorded replication group (`<group>-<shard>-<node>`)."""
    return {
        f"{g.inputs['replicationGroupId']}-{shard:04d}-{node:03d}"
        for g in ev.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
        for shard in range(1, int(g.inputs["numNodeGroups"]) + 1)
        for node in range(1, int(g.inputs["replicasPerNodeGroup"]) + 2)
    }


def selfhosted_node_groups(ev: Evaluation) -> set[str]:
    """Names of the auto-scaling groups of self-hosted PostgreSQL nodes (the mock names a group after its logical name,
    as the component sets none)."""
    return {
        g.name
        for g in ev.of_type("aws:autoscaling/group:Group")
        if any(a.type == "cryb:postgres_selfhosted:SelfHostedCluster" for a in ev.ancestors(g))
        and not g.name.startswith(f"cryb-{ev.stack}-dr-")
    }


def test_dashboard_plots_only_resources_of_the_graph(each_stack: Evaluation) -> None:
    instances = {r.inputs["identifier"] for r in each_stack.of_type("aws:rds/instance:Instance")}
    clusters = {r.inputs["clusterIdentifier"] for r in each_stack.of_type("aws:rds/cluster:Cluster")}
    existing = {
        ("AWS/RDS", "DBInstanceIdentifier"): instances,
        ("AWS/RDS", "DBClusterIdentifier"): clusters,
        ("AWS/ElastiCache", "CacheClusterId"): cache_members(each_stack),
        # Rotation functions (the mock engine names a function after its logical name, as Pulumi's auto-naming
        # prefixes it).
        ("AWS/Lambda", "FunctionName"): {
            r.name for r in each_stack.of_type("aws:lambda/function:Function") if r.name.endswith("-rotation-function")
        },
    }
    # Self-hosted nodes, once __main__.py passes its clusters to Monitoring: each by its auto-scaling group.
    groups = selfhosted_node_groups(each_stack)
    for namespace in ("AWS/EC2", "AWS/AutoScaling", "cryb-db/selfhosted"):
        existing[(namespace, "AutoScalingGroupName")] = groups
    # Self-hosted clusters' writer and reader endpoints: each target group with the load balancer it serves.
    balancers = {lb.name: lb for lb in each_stack.of_type("aws:lb/loadBalancer:LoadBalancer")}
    existing[("AWS/NetworkELB", "TargetGroup")] = {
        f"targetgroup/{tg.name}/fedcba9876543210"
        for tg in each_stack.of_type("aws:lb/targetGroup:TargetGroup")
        if not tg.name.startswith(f"cryb-{each_stack.stack}-dr-")
    }
    plotted: dict[tuple[str, str], set[str]] = {}
    for namespace, _, dimensions in referenced_metrics(body_of(each_stack)):
        assert dimensions.pop("path", DATA_MOUNT) == DATA_MOUNT  # the agent's disk metric: the NVMe data mount
        if "Cluster" in dimensions:  # the metrics agent's {Cluster, Node}: a cluster component and one of its nodes
            cluster = dimensions.pop("Cluster")
            assert cluster in {r.name for r in each_stack.of_type("cryb:postgres_selfhosted:SelfHostedCluster")}
            node_tags = {
                t["value"]
                for r in each_stack.of_type("aws:autoscaling/group:Group")
                if r.name.startswith(f"{cluster}-node-")
                for t in r.inputs["tags"]
                if t["key"] == "cryb-db-node"
            }
            assert dimensions["Node"] in node_tags, (cluster, dimensions)
            existing.setdefault((namespace, "Node"), set()).add(dimensions["Node"])
        if namespace == "AWS/NetworkELB":
            balancer = dimensions.pop("LoadBalancer")
            group = dimensions["TargetGroup"].split("/")[1]
            assert balancer == f"net/{group.removesuffix('-tg')}/0123456789abcdef", (balancer, group)
            assert group.removesuffix("-tg") in balancers
        ((dimension, value),) = dimensions.items()
        assert value in existing[(namespace, dimension)], value
        plotted.setdefault((namespace, dimension), set()).add(value)
    stores = set().union(*(v for k, v in existing.items() if k[1] != "AutoScalingGroupName"))
    assert set().union(*plotted.values()) >= stores  # every data store is on it
    for namespace in ("AWS/EC2", "AWS/AutoScaling", "cryb-db/selfhosted"):
        assert plotted.get((namespace, "AutoScalingGroupName"), set()) == groups, namespace


def test_dashboard_metrics_are_the_alarm_metrics(each_stack: Evaluation) -> None:
    alarmed = {
        (a.inputs["namespace"], a.inputs["metricName"], json.dumps(a.inputs["dimensions"], sort_keys=True))
        for a in each_stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.inputs["namespace"] != "AWS/SQS" and a.inputs["tags"].get("actions-enabled-by") != "dr-promote-region"
    }
    plotted = {(n, m, json.dumps(d, sort_keys=True)) for n, m, d in referenced_metrics(body_of(each_stack))}
    assert plotted == alarmed


def test_alarm_widget_shows_the_recorded_composites(each_stack: Evaluation) -> None:
    composites = {
        c.inputs["alarmName"]
        for c in each_stack.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")
        if c.inputs["tags"].get("actions-enabled-by") != "dr-promote-region"
    }
    (widget,) = [w for w in body_of(each_stack)["widgets"] if w["type"] == "alarm"]
    prefix = f"arn:aws:cloudwatch:us-east-1:{MOCK_ACCOUNT_ID}:alarm:"
    assert {arn.removeprefix(prefix) for arn in widget["properties"]["alarms"]} == composites


def test_cache_dashboard_plots_only_members_of_recorded_replication_groups(cache_stack: Evaluation) -> None:  # noqa: F811
    plotted = set()
    for namespace, _, dimensions in referenced_metrics(body_of(cache_stack)):
        assert namespace == "AWS/ElastiCache"
        plotted.add(dimensions["CacheClusterId"])
    assert plotted == cache_members(cache_stack) and len(plotted) == 4
