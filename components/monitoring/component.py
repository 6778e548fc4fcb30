"""Alarms and the dashboard of the data stores (docs/monitoring.md).

Every RDS member (writer, read replica, or Multi-AZ DB cluster), every cache node and every self-hosted PostgreSQL
node gets the CloudWatch recommended alarm set with thresholds from its instance class (alarm_thresholds). Each alarm
notifies the `notify` topic (chat) on ALARM and OK; a composite "unhealthy" alarm per shard, per cache node group and
per self-hosted cluster, built from the critical ones,
notifies the `page` topic (PagerDuty and chat), so one incident pages once. The metrics are the owning components'
`metric_...()` definitions, shared by the alarms and the dashboard.
"""

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import NotRequired, Protocol, TypedDict

import pulumi
import pulumi_aws as aws

from components.cache.component import CacheNodeGroup, SelfHostedCacheNodeGroup
from components.monitoring.alarm_thresholds import (
    AlarmSettings,
    AlarmSpec,
    MetricLike,
    PlannedAlarm,
    Role,
    cache_alarm_specs,
    check_metric_matches,
    rds_alarm_specs,
    rotation_alarm_specs,
    selfhosted_cache_alarm_specs,
    selfhosted_cluster_alarm_specs,
    selfhosted_node_alarm_specs,
)
from components.monitoring.dashboards import dashboard_body, dashboard_url
from components.postgres.component import PostgresShard
from components.selfhosted.component import SelfHostedCluster

RUNBOOK = "docs/monitoring.md"
# The owners' named metric definitions (CDK style); other metrics use their generic `metric()`.
POSTGRES_HELPERS = {
    "CPUUtilization": "metric_cpu_utilization",
    "DatabaseConnections": "metric_database_connections",
    "FreeableMemory": "metric_freeable_memory",
    "FreeStorageSpace": "metric_free_storage_space",
    "DBLoad": "metric_db_load",
    "MaximumUsedTransactionIDs": "metric_maximum_used_transaction_ids",
}
CACHE_HELPERS = {
    "EngineCPUUtilization": "metric_engine_cpu_utilization",
    "DatabaseMemoryUsagePercentage": "metric_database_memory_usage_percentage",
    "CurrConnections": "metric_curr_connections",
    "Evictions": "metric_evictions",
    "ReplicationLag": "metric_replication_lag",
    "AuthenticationFailures": "metric_authentication_failures",
    "MasterLinkHealthStatus": "metric_master_link_health_status",
    "ClusterStateOk": "metric_cluster_state_ok",
    "ClusterFailedNodes": "metric_cluster_failed_nodes",
}
SELFHOSTED_HELPERS = {
    "StatusCheckFailed": "metric_status_check_failed",
    "GroupInServiceInstances": "metric_group_in_service_instances",
    "CPUUtilization": "metric_cpu_utilization",
    "disk_used_percent": "metric_data_disk_used_percent",
    "mem_used_percent": "metric_mem_used_percent",
    "replication_lag_bytes": "metric_replication_lag_bytes",
}
COMPARISON_SIGNS = {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}


def _postgres_metric(shard: PostgresShard, spec: AlarmSpec, member: str | None) -> MetricLike:
    if member is None and spec.metric_name in POSTGRES_HELPERS:
        return getattr(shard, POSTGRES_HELPERS[spec.metric_name])()
    if member is not None and spec.metric_name == "ReplicaLag":
        return next(m for m in shard.metric_replica_lag() if m.dimensions.get("DBInstanceIdentifier") == member)
    return shard.metric(spec.metric_name, spec.statistic, spec.period_seconds, member=member)


def postgres_alarm_plan(
    shards: Sequence[PostgresShard], allocated_storage_gb: int, storage_type: str, settings: AlarmSettings
) -> list[PlannedAlarm]:
    """The alarms of every shard member: writer (or cluster) and each read replica."""
    planned = []
    for shard in shards:
        writer_role: Role = "writer" if shard.topology == "instance" else "cluster"
        replica_role: Role = "replica"
        members: list[tuple[str | None, Role]] = [(None, writer_role)]
        members.extend((replica, replica_role) for replica in shard.replica_identifiers)
        for member, role in members:
            for spec in rds_alarm_specs(shard.instance_class, allocated_storage_gb, storage_type, role, settings):
                metric = _postgres_metric(shard, spec, member)
                check_metric_matches(spec, metric)
                planned.append(PlannedAlarm(member or shard.identifier, shard.identifier, "postgres", spec, metric))
    return planned


def cache_group_label(group: CacheNodeGroup) -> str:
    """`<replication group>-<node group>`: the members' common prefix (`cryb-prod-cache-0001`)."""
    return group.member_ids[0].rsplit("-", 1)[0] if group.member_ids else group.node_group_id


def _cache_metric(group: CacheNodeGroup, spec: AlarmSpec, member: str) -> MetricLike:
    if spec.metric_name in CACHE_HELPERS:
        metrics = getattr(group, CACHE_HELPERS[spec.metric_name])()
        found = [m for m in metrics if m.dimensions.get("CacheClusterId") == member]
        if found:
            return found[0]
    return group.metric(spec.metric_name, member, spec.statistic)


def cache_alarm_plan(
    node_groups: Sequence[CacheNodeGroup], node_type: str, maxmemory_policy: str, settings: AlarmSettings
) -> list[PlannedAlarm]:
    """The alarms of every cache node; the nodes created as replicas also watch their replication lag; self-hosted
    nodes also their replication link, the cluster state and nodes out of the cluster."""
    planned = []
    for group in node_groups:
        label = cache_group_label(group)
        for index, member in enumerate(group.member_ids):
            specs = cache_alarm_specs(node_type, maxmemory_policy, index > 0, settings)
            if isinstance(group, SelfHostedCacheNodeGroup):
                specs += selfhosted_cache_alarm_specs()
            for spec in specs:
                metric = _cache_metric(group, spec, member)
                check_metric_matches(spec, metric)
                planned.append(PlannedAlarm(member, label, "cache", spec, metric))
    return planned


def selfhosted_alarm_plan(clusters: Sequence[SelfHostedCluster], settings: AlarmSettings) -> list[PlannedAlarm]:
    """The alarms of every node of every self-hosted cluster, on the metrics of the node's auto-scaling group, and of
    each cluster's writer and reader endpoints; the cluster is the group whose composite they feed."""
    planned = []
    for cluster in clusters:
        specs = selfhosted_node_alarm_specs(cluster.instance_type, settings)
        # One helper call per metric: the disk warning and critical alarms share one series on the dashboard.
        metrics = {name: getattr(cluster, SELFHOSTED_HELPERS[name])() for name in {s.metric_name for s in specs}}
        for index, group in enumerate(cluster.node_groups):
            for spec in specs:
                metric = metrics[spec.metric_name][index]
                check_metric_matches(spec, metric)
                planned.append(PlannedAlarm(group.resource, cluster.identifier, "selfhosted", spec, metric))
        endpoints = {"no-writer": cluster.metric_writer_healthy_hosts, "no-reader": cluster.metric_reader_healthy_hosts}
        for spec in selfhosted_cluster_alarm_specs():
            metric = endpoints[spec.key]()
            check_metric_matches(spec, metric)
            planned.append(PlannedAlarm(cluster.identifier, cluster.identifier, "selfhosted", spec, metric))
    return planned


class WatchedRotation(Protocol):
    """A rotation component (CacheUserRotation, SelfHostedCacheUserRotation, SelfHostedCredentialRotation) as the
    monitoring sees it."""

    @property
    def identifier(self) -> str: ...
    def metric_errors(self) -> MetricLike: ...


def rotation_alarm_plan(rotations: Sequence[WatchedRotation]) -> list[PlannedAlarm]:
    """A failed-step alarm per rotation function (warning: the credentials in use keep working)."""
    planned = []
    for rotation in rotations:
        for spec in rotation_alarm_specs():
            metric = rotation.metric_errors()
            check_metric_matches(spec, metric)
            planned.append(PlannedAlarm(rotation.identifier, rotation.identifier, "rotation", spec, metric))
    return planned


def composite_rules(planned: Sequence[PlannedAlarm]) -> dict[str, str]:
    """Per shard / node group: ALARM when any of its critical alarms is (CloudWatch alarm-rule syntax)."""
    critical = sorted((p for p in planned if p.spec.severity == "critical"), key=lambda p: p.group)
    return {
        group: " OR ".join(f'ALARM("{p.name}")' for p in alarms)
        for group, alarms in groupby(critical, key=lambda p: p.group)
    }


def describe(alarm: PlannedAlarm) -> str:
    spec = alarm.spec
    sign = COMPARISON_SIGNS[spec.comparison]
    text = (
        f"{spec.why} Fires when {spec.statistic} {spec.metric_name} {sign} {spec.threshold:g}"
        f"{'' if spec.unit in ('', 'count') else ' ' + spec.unit} for {spec.datapoints_to_alarm} of "
        f"{spec.evaluation_periods} x {spec.period_seconds} s. Runbook: {RUNBOOK}#{spec.runbook_anchor}"
    )
    return text[:1024]


class CacheWatchArgs(TypedDict):
    """The cache tier as the monitoring needs it (components/cache/component.py)."""

    node_groups: Sequence[CacheNodeGroup]
    """`Cache.node_groups`: ElastiCache node groups, or the self-hosted shards, and their member ids."""
    node_type: str
    """`Cache.alarm_node_type`: the node type as `cache.<family>.<size>` (vCPUs decide the host CPU alarm)."""
    maxmemory_policy: str
    """Eviction policy (decides the evictions threshold)."""


class MonitoringArgs(TypedDict):
    """Inputs of Monitoring."""

    postgres_shards: Sequence[PostgresShard]
    """`Postgres.shards`: identifiers, instance class, max_connections, replicas and metric definitions."""
    postgres_allocated_storage_gb: int
    """Allocated storage of every member (the free-storage and slot thresholds are 10 % of it)."""
    postgres_storage_type: str
    """`gp3` or `io2` (decides the latency thresholds)."""
    cache: NotRequired[CacheWatchArgs | None]
    """The cache tier's node groups (ElastiCache or self-hosted), or None when it has no nodes to watch."""
    selfhosted_clusters: NotRequired[Sequence[SelfHostedCluster]]
    """Self-hosted PostgreSQL clusters (analytics, and the shards with `engine: ec2`): alarms per node, a composite per
    cluster."""
    rotations: NotRequired[Sequence[WatchedRotation]]
    """Secrets Manager rotation components: an alarm on each one's failed steps."""
    notify_topic_arn: pulumi.Input[str]
    """Topic every metric alarm notifies on ALARM and OK (the warning topic: chat)."""
    page_topic_arn: pulumi.Input[str]
    """Topic the composite "unhealthy" alarms notify on ALARM and OK (the critical topic: PagerDuty and chat)."""
    settings: AlarmSettings
    """Tunable thresholds (cryb-db:monitoring)."""
    dashboard_name: str
    """Name of the stack's dashboard."""
    region: str
    """Region of the metrics and the dashboard."""
    account_id: str
    """Account of the alarms (alarm ARNs on the dashboard)."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""
    actions_enabled: NotRequired[bool]
    """False: the alarms evaluate but notify nobody until their actions are enabled (a DR standby cluster's, which
    would report a missing writer while it only replays; `dr promote-region` enables them). Default True."""


class Monitoring(pulumi.ComponentResource):
    """The recommended alarm set per data store member, a composite "unhealthy" alarm per shard, node group and
    self-hosted cluster, and the stack's dashboard (overview, replication, capacity)."""

    planned: list[PlannedAlarm]
    composite_alarm_names: list[str]
    dashboard_name: pulumi.Output[str]
    dashboard_url: str

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:monitoring:Monitoring", name, None, opts)
        tags, settings = dict(args["tags"]), args["settings"]
        self.planned = postgres_alarm_plan(
            args["postgres_shards"], args["postgres_allocated_storage_gb"], args["postgres_storage_type"], settings
        )
        cache = args.get("cache")
        if cache is not None:
            self.planned += cache_alarm_plan(
                cache["node_groups"], cache["node_type"], cache["maxmemory_policy"], settings
            )
        self.planned += selfhosted_alarm_plan(args.get("selfhosted_clusters", []), settings)
        self.planned += rotation_alarm_plan(args.get("rotations", []))

        notify, page = args["notify_topic_arn"], args["page_topic_arn"]
        actions_enabled = args.get("actions_enabled", True)
        if not actions_enabled:  # the policy pack accepts disabled actions only with these tags
            tags = {**tags, "dr": "standby", "actions-enabled-by": "dr-promote-region"}
        alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for planned in self.planned:
            spec, metric = planned.spec, planned.metric
            alarms[planned.name] = aws.cloudwatch.MetricAlarm(
                f"{name}-{planned.name}",
                name=planned.name,
                alarm_description=describe(planned),
                namespace=metric.namespace,
                metric_name=metric.metric_name,
                dimensions=dict(metric.dimensions),
                statistic=None if spec.extended else metric.statistic,
                extended_statistic=metric.statistic if spec.extended else None,
                period=metric.period_seconds,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                treat_missing_data=spec.treat_missing_data,
                actions_enabled=actions_enabled,
                alarm_actions=[notify],
                ok_actions=[notify],
                tags={
                    **tags,
                    "Name": planned.name,
                    "severity": spec.severity,
                    "monitors": planned.resource,
                    "group": planned.group,
                },
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.composite_alarm_names = []
        composites: list[aws.cloudwatch.CompositeAlarm] = []
        for group, rule in composite_rules(self.planned).items():
            composite = f"{group}-unhealthy"
            members = [alarms[p.name] for p in self.planned if p.group == group and p.spec.severity == "critical"]
            composites.append(
                aws.cloudwatch.CompositeAlarm(
                    f"{name}-{composite}",
                    alarm_name=composite,
                    alarm_description=f"{group} is unhealthy: one of its critical alarms is in ALARM (the state reason "
                    f"names which). This is the alarm that pages. Runbook: {RUNBOOK}#shard-unhealthy",
                    alarm_rule=rule,
                    actions_enabled=actions_enabled,
                    alarm_actions=[page],
                    ok_actions=[page],
                    tags={**tags, "Name": composite, "severity": "critical", "group": group},
                    # The rule names its children; they must exist before CloudWatch accepts it.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=members),
                )
            )
            self.composite_alarm_names.append(composite)

        body = dashboard_body(
            args["region"], args["account_id"], self.planned, self.composite_alarm_names, args["dashboard_name"]
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args["dashboard_name"],
            # Self-hosted node metrics name their auto-scaling group, whose name is an Output.
            dashboard_body=pulumi.Output.json_dumps(body),
            opts=pulumi.ResourceOptions(parent=self, depends_on=composites),  # its alarm widget shows them
        )
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = dashboard_url(args["region"], args["dashboard_name"])
        self.register_outputs(
            {
                "dashboardName": self.dashboard_name,
                "dashboardUrl": self.dashboard_url,
                "alarmCount": len(self.planned),
                "compositeAlarmNames": self.composite_alarm_names,
            }
        )
