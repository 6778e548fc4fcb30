"""Rules that only the whole stack can answer: is every data store watched, does every alerting topic reach
someone, is every key used."""

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_list
from .resource import Resource

RULES = RuleSet()

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
# Self-hosted database nodes are auto-scaling groups of one tagged with their cluster (components/selfhosted/component).
DATABASE_NODE_TAG = "cryb-db-cluster"
EC2_INSTANCE = "aws:ec2/instance:Instance"
# Self-hosted cache nodes are instances tagged with their cache component and plan name (components/cache/component);
# their agent's metrics carry both as {CacheCluster, Node}.
CACHE_CLUSTER_TAG, CACHE_NODE_TAG = "cryb-db-cache", "cache-node"
# The data stores on the cluster (engine kubernetes): CloudNativePG clusters and cache StatefulSets (a Valkey or Redis
# image), watched by PrometheusRule alerts whose expressions select their pods (components/kubernetes/alert_rules.py).
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CACHE_IMAGE = re.compile(r"(^|/)(valkey|redis)(:|@|$)")
TOPIC = "aws:sns/topic:Topic"
TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KMS_KEY = "aws:kms/key:Key"
# Resources that name a key without using it to encrypt anything.
NOT_KEY_USES = frozenset({"aws:kms/alias:Alias", "aws:kms/keyPolicy:KeyPolicy"})

# What each data store's metrics are keyed by; cache node metrics carry `<group id>-00N` as CacheClusterId.
WATCHED = {
    RDS_INSTANCE: ("rdsMetrics", ("identifier",), ("DBInstanceIdentifier",)),
    RDS_CLUSTER: ("rdsClusterMetrics", ("clusterIdentifier",), ("DBClusterIdentifier",)),
    REPLICATION_GROUP: ("cacheMetrics", ("replicationGroupId",), ("ReplicationGroupId", "CacheClusterId")),
    AUTOSCALING_GROUP: ("nodeMetrics", ("name",), ("AutoScalingGroupName",)),
}


def _is_database_node(group: Resource) -> bool:
    tags = group.get("tags", default=[])
    entries = tags if isinstance(tags, list) else []
    return any(isinstance(t, dict) and t.get("key") == DATABASE_NODE_TAG for t in entries)


def _metrics(alarm: Resource) -> list[tuple[Any, dict[str, Any]]]:
    """(metric name, dimensions) of the alarm's metric and of each metric in its metric-math queries."""
    found: list[tuple[Any, dict[str, Any]]] = []
    if "metricName" in alarm.props:
        dimensions = alarm.get("dimensions", default={})
        found.append((alarm.get("metricName"), dimensions if isinstance(dimensions, dict) else {}))
    queries = as_list(alarm.get("metricQueries"))
    for query in queries if queries is not UNKNOWN else []:
        metric = query.get("metric") if isinstance(query, dict) else None
        if isinstance(metric, dict):
            dimensions = metric.get("dimensions", {})
            found.append((metric.get("metricName"), dimensions if isinstance(dimensions, dict) else {}))
    return found


class _AlarmIndex:
    """Which alarms watch a data store, answered from indexes built once: checking every store against every alarm
    took ~0.3 s at the largest allowed stack (110 stores x 1,026 alarms; docs/benchmarks.md#offline-preview-at-scale).

    An alarm watches a store when it was computed from the store (a property dependency on its URN) or when one of
    its metrics' dimensions (`dimension_names`) is one of the store's names or starts with `<name>-`. An alarm whose
    dimension is still unknown and that does not watch the store by either means leaves the answer unknown."""

    def __init__(self, alarms: list[Resource]) -> None:
        self.metrics = [_metrics(alarm) for alarm in alarms]
        self.by_dependency: dict[str, set[int]] = {}
        self.by_name: dict[str, dict[str, set[int]]] = {}
        """dimension key -> a name the dimension's value matches (itself, or each prefix before a `-`) -> alarms."""
        self.unknown: dict[str, set[int]] = {}
        for index, alarm in enumerate(alarms):
            for urns in alarm.property_dependencies.values():
                for urn in urns:
                    self.by_dependency.setdefault(urn, set()).add(index)
            for _, dimensions in self.metrics[index]:
                for key, value in dimensions.items():
                    if value is UNKNOWN:
                        self.unknown.setdefault(key, set()).add(index)
                    elif isinstance(value, str):
                        names = self.by_name.setdefault(key, {})
                        # `value.startswith(f"{n}-")` holds exactly for the prefixes ending before a `-`.
                        for name in {value, *(value[:i] for i, c in enumerate(value) if c == "-")}:
                            names.setdefault(name, set()).add(index)

    def watching(self, store: Resource, names: set[str], dimension_names: tuple[str, ...]) -> set[int] | None:
        """The indexes of the alarms that watch `store`; None when an alarm's target is unknown (cannot tell yet)."""
        found = set(self.by_dependency.get(store.urn, ()))
        for key in dimension_names:
            by_name = self.by_name.get(key, {})
            for name in names:
                found |= by_name.get(name, set())
        for key in dimension_names:
            if self.unknown.get(key, set()) - found:
                return None
        return found


@RULES.stack(
    name="data-stores-have-alarms",
    description="Every RDS instance, RDS cluster, cache replication group, self-hosted database node (an "
    "auto-scaling group tagged cryb-db-cluster) and self-hosted cache node (an instance tagged cryb-db-cache) has "
    "the recommended alarm set; every CloudNativePG Cluster and cache StatefulSet (Valkey/Redis image) on the "
    "cluster has PrometheusRule alerts on its pods.",
    controls=("CRYB.5",),
    severity=Severity.HIGH,
    remediation="Create the monitoring component's alarms for the data store (metrics listed in the message), "
    "with dimensions naming it and alarm_actions set; on Kubernetes, declare the store's PrometheusRule "
    "(components/kubernetes/alert_rules.py) in its namespace.",
    config_schema={
        "rdsMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections"],
        },
        "rdsClusterMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["CPUUtilization", "FreeableMemory", "DatabaseConnections"],
        },
        "cacheMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["EngineCPUUtilization", "DatabaseMemoryUsagePercentage"],
        },
        "nodeMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["StatusCheckFailed", "GroupInServiceInstances", "disk_used_percent"],
        },
        "cacheNodeMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "EngineCPUUtilization",
                "DatabaseMemoryUsagePercentage",
                "ClusterStateOk",
                "ClusterFailedNodes",
            ],
        },
        "cnpgMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": [
                "cnpg_collector_up",
                "cnpg_pg_replication_in_recovery",
                "cnpg_pg_replication_lag",
                "cnpg_backends_total",
                "kubelet_volume_stats_used_bytes",
                "cnpg_pg_stat_archiver_last_failed_time",
                "cnpg_pg_database_xid_age",
            ],
        },
        "cacheStatefulSetMetrics": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["redis_up", "redis_cluster_state", "redis_memory_used_bytes", "redis_master_link_up"],
        },
    },
)
def data_stores_have_alarms(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    alarms = _AlarmIndex(stack.of_type(METRIC_ALARM))
    for type_token, (config_key, name_keys, dimension_names) in WATCHED.items():
        for store in stack.of_type(type_token):
            if type_token == AUTOSCALING_GROUP and not _is_database_node(store):
                continue
            names = {v for k in name_keys if isinstance(v := store.get(k), str)}
            names |= {v for v in (store.get("id"),) if isinstance(v, str)}
            watching = alarms.watching(store, names, dimension_names)
            if watching is None:
                continue  # an alarm's target is still unknown: cannot tell yet
            covered = {m for index in watching for m, _ in alarms.metrics[index] if isinstance(m, str)}
            missing = [m for m in config[config_key] if m not in covered]
            if missing:
                yield store, f"no alarm on {missing}: add CloudWatch alarms for these metrics of this data store."
    # The metrics of the self-hosted cache nodes' agents, by the {CacheCluster, Node} they carry.
    node_metrics: dict[tuple[Any, Any], set[Any]] = {}
    unhashable: list[tuple[tuple[Any, Any], Any]] = []  # a dimension value that is not a string (compared by ==)
    for metrics in alarms.metrics:
        for metric, dimensions in metrics:
            key = (dimensions.get("CacheCluster"), dimensions.get("Node"))
            try:
                node_metrics.setdefault(key, set()).add(metric)
            except TypeError:
                unhashable.append((key, metric))
    for node in stack.of_type(EC2_INSTANCE):
        tags = node.get("tags", default={})
        if not isinstance(tags, dict) or CACHE_CLUSTER_TAG not in tags:
            continue
        identity = (tags[CACHE_CLUSTER_TAG], tags.get(CACHE_NODE_TAG))
        try:
            covered = set(node_metrics.get(identity, ()))
        except TypeError:
            covered = set()
        covered |= {metric for key, metric in unhashable if key == identity}
        missing = [m for m in config["cacheNodeMetrics"] if m not in covered]
        if missing:
            yield (
                node,
                (
                    f"no alarm on {missing} with dimensions CacheCluster={identity[0]}, Node={identity[1]} (the node "
                    "agent's metrics): add CloudWatch alarms for these metrics of this cache node."
                ),
            )
    yield from _kubernetes_stores_have_alerts(stack, config)


def _alert_expressions(rule: Resource) -> list[str] | None:
    """The expressions of a PrometheusRule's alerting rules; None when any part is still unknown."""
    groups = rule.get("spec", "groups")
    if groups is UNKNOWN or not isinstance(groups, list):
        return None if groups is UNKNOWN else []
    found: list[str] = []
    for group in groups:
        rules = group.get("rules") if isinstance(group, dict) else None
        for item in rules if isinstance(rules, list) else []:
            if not isinstance(item, dict) or "alert" not in item:
                continue
            expr = item.get("expr")
            if not isinstance(expr, str):
                return None
            found.append(expr)
    return found


def _is_cache_statefulset(workload: Resource) -> bool:
    containers = workload.get("spec", "template", "spec", "containers", default=[])
    return any(
        isinstance(c, dict) and isinstance(c.get("image"), str) and CACHE_IMAGE.search(c["image"].split("@")[0])
        for c in (containers if isinstance(containers, list) else [])
    )


def _kubernetes_stores_have_alerts(stack: Stack, config: Config) -> Iterator[tuple[Resource, str]]:
    """A store's alerts are the alerting rules of the PrometheusRules in its namespace whose expressions select its
    pods (`pod=~"<name>-..."`) or volumes (`persistentvolumeclaim=~"[<template>-]<name>-..."`); together they must
    read each metric of the config list."""
    by_namespace: dict[Any, list[str] | None] = {}
    for rule in stack.of_type(PROMETHEUS_RULE):
        namespace, expressions = rule.get("metadata", "namespace"), _alert_expressions(rule)
        known = by_namespace.get(namespace, [])
        if namespace is UNKNOWN or expressions is None or known is None:
            by_namespace[namespace] = None
        else:
            by_namespace[namespace] = [*known, *expressions]
    stores = [(s, "Cluster", "cnpgMetrics") for s in stack.of_type(CNPG_CLUSTER)]
    stores += [(s, "StatefulSet", "cacheStatefulSetMetrics") for s in stack.of_type(STATEFUL_SET)]
    for store, kind, config_key in stores:
        if kind == "StatefulSet" and not _is_cache_statefulset(store):
            continue
        name, namespace = store.get("metadata", "name"), store.get("metadata", "namespace")
        if not isinstance(name, str) or namespace is UNKNOWN or UNKNOWN in by_namespace:
            continue
        expressions = by_namespace.get(namespace, [])
        if expressions is None:
            continue  # a rule of its namespace is still unknown: cannot tell yet
        selects = re.compile(rf'(pod=~?"{re.escape(name)}-|persistentvolumeclaim=~?"([a-z0-9.-]+-)?{re.escape(name)}-)')
        watching = [e for e in expressions if selects.search(e)]
        missing = [m for m in config[config_key] if not any(re.search(rf"\b{re.escape(m)}\b", e) for e in watching)]
        if missing:
            yield (
                store,
                f"no PrometheusRule alert in namespace {namespace!r} reads {missing} for the pods of {kind} "
                f'{name!r} (pod=~"{name}-..."): declare the store\'s alert rules '
                "(components/kubernetes/alert_rules.py).",
            )


@RULES.stack(
    name="sns-topic-has-subscription",
    description="Every SNS topic has at least one subscription, so alarms and events reach a person or a pager.",
    controls=("CRYB.6",),
    severity=Severity.HIGH,
    remediation="Add aws.sns.TopicSubscription(topic=topic.arn, ...) for the on-call endpoint.",
)
def sns_topic_has_subscription(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for topic in stack.of_type(TOPIC):
        if stack.referrers(topic, (TOPIC_SUBSCRIPTION,), ("topic",)):
            continue
        if not stack.maybe_referrers(topic, (TOPIC_SUBSCRIPTION,), ("topic",)):
            yield topic, "no subscription: messages to this topic reach nobody; add a TopicSubscription."


# A Kubernetes StorageClass of the EBS CSI driver encrypts every volume it provisions with `parameters.kmsKeyId`.
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"


def _may_use_keys(resource: Resource) -> bool:
    """Only an AWS resource (or an EBS StorageClass) can encrypt with a key. The stack's exports (`kmsKeyArns`) and a
    component's outputs hand a key's ARN out but encrypt nothing, and the root stack's or a provider's outputs are no
    use either."""
    if resource.type == STORAGE_CLASS:
        return True
    return resource.type.startswith("aws:") and resource.type not in NOT_KEY_USES and resource.type != KMS_KEY


@RULES.stack(
    name="kms-key-in-use",
    description="Every customer-managed key is used by an AWS resource of the stack (a key nothing uses costs "
    "money and hides intent; exporting its ARN is not a use).",
    controls=("CRYB.7",),
    severity=Severity.LOW,
    remediation="Pass the key's ARN to the resources it is for (kms_key_id), or stop creating the key.",
)
def kms_key_in_use(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    users = [r for r in stack.resources if _may_use_keys(r)]
    for key in stack.of_type(KMS_KEY):
        # Decidable in a first preview too: a value computed from the key carries its URN as a property dependency,
        # so an unknown value without one (an id or ARN the provider computes) cannot be this key.
        if any(stack.references(user, key, unknown_refers=False) for user in users):
            continue
        yield key, "no resource uses this key: pass its ARN as kms_key_id where it belongs, or remove the key."
