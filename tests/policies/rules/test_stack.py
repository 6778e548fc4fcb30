"""`policies/rules/stack.py`, the cross-service rules only the whole stack can answer, on synthetic graphs."""

import copy
import dataclasses
from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from components.kubernetes import alert_rules, cache_cluster, cnpg
from tests.cache_workload_example import cache_workload
from tests.cnpg_example import CLUSTER_SPEC
from tests.policies.rules.helpers import (
    ALARM,
    CACHE,
    INSTANCE,
    KEY,
    KEY_ARN,
    RDS_INSTANCE,
    REPLICATION_GROUP,
    RULES,
    TOPIC,
    TOPIC_ARN,
    Node,
    changed,
    stack_violations,
)


def alarm(name: str, metric: str, dimension: dict[str, Any], **extra: Any) -> Node:
    props = {**ALARM, "metricName": metric, "dimensions": dimension, **extra}
    return Node("aws:cloudwatch/metricAlarm:MetricAlarm", name, props)


def test_data_stores_have_alarms() -> None:
    rule = RULES["data-stores-have-alarms"]
    db = Node(RDS_INSTANCE, "db", changed(INSTANCE, identifier="cryb-prod-pg-00"))
    metrics = ["CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections"]
    alarms = [alarm(m, m, {"DBInstanceIdentifier": "cryb-prod-pg-00"}) for m in metrics]
    assert stack_violations(rule, [db, *alarms]) == []
    missing = stack_violations(rule, [db, *alarms[:3]])
    assert [n for n, _ in missing] == ["db"] and "DatabaseConnections" in missing[0][1]
    cache = Node(REPLICATION_GROUP, "cache", CACHE)
    node_alarms = [
        alarm(m, m, {"CacheClusterId": "cryb-prod-cache-001"})
        for m in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage")
    ]
    assert stack_violations(rule, [cache, *node_alarms]) == []
    assert [n for n, _ in stack_violations(rule, [cache, *node_alarms[:1]])] == ["cache"]
    math = Node(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "math",
        {
            "alarmActions": [TOPIC_ARN],
            "metricQueries": [
                {
                    "id": "m",
                    "metric": {
                        "metricName": "DatabaseConnections",
                        "namespace": "AWS/RDS",
                        "dimensions": {"DBInstanceIdentifier": "cryb-prod-pg-00"},
                    },
                }
            ],
        },
    )
    assert stack_violations(rule, [db, *alarms[:3], math]) == []
    unknown = alarm("u", "DatabaseConnections", {"DBInstanceIdentifier": UNKNOWN_STRING_VALUE})
    assert stack_violations(rule, [db, *alarms[:3], unknown]) == []
    by_dependency = alarm("d", "DatabaseConnections", {"DBInstanceIdentifier": UNKNOWN_STRING_VALUE})
    by_dependency.depends = {"dimensions": ["db"]}
    assert stack_violations(rule, [db, *alarms[:3], by_dependency]) == []
    assert stack_violations(rule, [Node("aws:sns/topic:Topic", "t", TOPIC)]) == []


def test_self_hosted_database_nodes_have_alarms_other_groups_need_none() -> None:
    rule = RULES["data-stores-have-alarms"]
    asg = "aws:autoscaling/group:Group"
    tags = [{"key": "cryb-db-cluster", "value": "analytics", "propagateAtLaunch": True}]
    node = Node(asg, "node-a", {"name": "cryb-prod-analytics-node-a", "maxSize": 1, "tags": tags})
    workers = Node(asg, "workers", {"name": "app-workers", "maxSize": 10, "tags": []})
    metrics = ["StatusCheckFailed", "GroupInServiceInstances", "disk_used_percent"]
    alarms = [alarm(m, m, {"AutoScalingGroupName": "cryb-prod-analytics-node-a"}) for m in metrics]
    assert stack_violations(rule, [node, workers, *alarms]) == []
    missing = stack_violations(rule, [node, workers, *alarms[1:]])
    assert [n for n, _ in missing] == ["node-a"] and "StatusCheckFailed" in missing[0][1]
    # in a real preview the group's generated name is unknown: the engine's dependency says which group it is
    pending = Node(asg, "node-a", {"name": UNKNOWN_STRING_VALUE, "maxSize": 1, "tags": tags})
    by_dependency = [
        Node(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            f"dep-{m}",
            {
                "alarmActions": [TOPIC_ARN],
                "metricName": m,
                "dimensions": {"AutoScalingGroupName": UNKNOWN_STRING_VALUE},
            },
            depends={"dimensions": ["node-a"]},
        )
        for m in metrics
    ]
    assert stack_violations(rule, [pending, *by_dependency]) == []


def test_self_hosted_cache_nodes_have_alarms_on_their_agents_metrics() -> None:
    """A cache node (an instance tagged cryb-db-cache) needs alarms on its own {CacheCluster, Node} metrics; another
    cluster's node of the same plan name does not count, nor does an untagged instance need any."""
    rule = RULES["data-stores-have-alarms"]
    ec2 = "aws:ec2/instance:Instance"
    tags = {"cryb-db-cache": "cryb-prod-cache", "cache-node": "s0-master"}
    node = Node(ec2, "cryb-prod-cache-node-0", {"instanceType": "r7g.large", "tags": tags})
    bastion = Node(ec2, "bastion", {"instanceType": "t4g.nano", "tags": {"Name": "bastion"}})
    metrics = ["EngineCPUUtilization", "DatabaseMemoryUsagePercentage", "ClusterStateOk", "ClusterFailedNodes"]
    ours = {"CacheCluster": "cryb-prod-cache", "Node": "s0-master"}
    alarms = [alarm(m, m, ours) for m in metrics]
    assert stack_violations(rule, [node, bastion, *alarms]) == []
    missing = stack_violations(rule, [node, bastion, *alarms[:3]])
    assert [n for n, _ in missing] == ["cryb-prod-cache-node-0"] and "ClusterFailedNodes" in missing[0][1]
    others = [alarm(m, m, {**ours, "CacheCluster": "cryb-dev-cache"}) for m in metrics]
    assert [n for n, _ in stack_violations(rule, [node, *others])] == ["cryb-prod-cache-node-0"]


CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DATA_NS = "cryb-db-data"
THRESHOLDS = alert_rules.AlertThresholds()


def shard0_rules(namespace: str = DATA_NS, store: str = "shard0") -> Node:
    rules = alert_rules.postgres_rules(store, namespace, 3, "0 0 3 * * *", THRESHOLDS)
    return Node(PROMETHEUS_RULE, f"{store}-alerts", alert_rules.prometheus_rule(store, namespace, rules, {}))


def test_cnpg_clusters_need_prometheus_alerts_on_their_pods() -> None:
    """A CloudNativePG Cluster needs alerts in its namespace whose expressions select its pods and read the
    configured metrics; another namespace's rules, another cluster's (shard10 is not shard1) or a rule set without
    the backup alerts do not count."""
    rule = RULES["data-stores-have-alarms"]
    cluster = Node(CNPG_CLUSTER, "shard0-cluster", cnpg.cluster(CLUSTER_SPEC))
    assert stack_violations(rule, [cluster, shard0_rules()]) == []
    missing = stack_violations(rule, [cluster])
    assert [n for n, _ in missing] == ["shard0-cluster"]
    assert "cnpg_pg_replication_lag" in missing[0][1] and "'cryb-db-data'" in missing[0][1]
    assert [n for n, _ in stack_violations(rule, [cluster, shard0_rules(namespace="other")])] == ["shard0-cluster"]
    other = Node(CNPG_CLUSTER, "shard1-cluster", cnpg.cluster(dataclasses.replace(CLUSTER_SPEC, name="shard1")))
    assert [n for n, _ in stack_violations(rule, [other, shard0_rules(store="shard10")])] == ["shard1-cluster"]
    without_archiving = shard0_rules()
    groups = without_archiving.props["spec"]["groups"]
    groups[0]["rules"] = [r for r in groups[0]["rules"] if "archiver" not in r["expr"]]
    (violation,) = stack_violations(rule, [cluster, without_archiving])
    assert "['cnpg_pg_stat_archiver_last_failed_time']" in violation[1]
    pending = shard0_rules()
    pending.props["spec"]["groups"][0]["rules"][0]["expr"] = UNKNOWN_STRING_VALUE
    assert stack_violations(rule, [cluster, pending]) == []  # cannot tell yet


def test_the_cache_statefulset_needs_prometheus_alerts_other_statefulsets_none() -> None:
    rule = RULES["data-stores-have-alarms"]
    workload = cache_workload(DATA_NS)
    sts = Node(STATEFUL_SET, "cache-statefulset", cache_cluster.statefulset(workload, "0" * 64))
    rules = alert_rules.cache_rules(DATA_NS, "cache", 6, THRESHOLDS)
    alerts = Node(PROMETHEUS_RULE, "cache-alerts", alert_rules.prometheus_rule("cache", DATA_NS, rules, {}))
    assert stack_violations(rule, [sts, alerts]) == []
    (violation,) = stack_violations(rule, [sts])
    assert violation[0] == "cache-statefulset" and "redis_cluster_state" in violation[1]
    other = copy.deepcopy(cache_cluster.statefulset(workload, "0" * 64))
    for container in other["spec"]["template"]["spec"]["containers"]:
        container["image"] = "nginx:1.27.0"
    assert stack_violations(rule, [Node(STATEFUL_SET, "web", other)]) == []


def test_sns_topic_has_subscription() -> None:
    rule = RULES["sns-topic-has-subscription"]
    topic = Node("aws:sns/topic:Topic", "critical", {**TOPIC, "arn": TOPIC_ARN})
    subscription = Node(
        "aws:sns/topicSubscription:TopicSubscription",
        "pager",
        {"topic": TOPIC_ARN, "protocol": "https", "endpoint": "https://events.example/sns"},
    )
    assert stack_violations(rule, [topic, subscription]) == []
    assert [n for n, _ in stack_violations(rule, [topic])] == ["critical"]
    pending = Node(subscription.type, "pager", {"topic": UNKNOWN_STRING_VALUE, "protocol": "https"})
    assert stack_violations(rule, [topic, pending]) == []


def test_kms_key_in_use() -> None:
    rule = RULES["kms-key-in-use"]
    key = Node("aws:kms/key:Key", "logs", {**KEY, "arn": KEY_ARN, "keyId": "k-1", "id": "k-1"})
    alias = Node("aws:kms/alias:Alias", "logs-alias", {"name": "alias/logs", "targetKeyId": "k-1"})
    group = Node("aws:cloudwatch/logGroup:LogGroup", "flow", {"name": "/flow", "kmsKeyId": KEY_ARN})
    assert stack_violations(rule, [key, alias, group]) == []
    assert [n for n, _ in stack_violations(rule, [key, alias])] == ["logs"]
    by_dependency = Node(
        group.type, "flow", {"name": "/flow", "kmsKeyId": UNKNOWN_STRING_VALUE}, depends={"kmsKeyId": ["logs"]}
    )
    assert stack_violations(rule, [key, alias, by_dependency]) == []


def test_kms_key_in_use_counts_only_aws_resources_and_decides_first_previews() -> None:
    """The engine sends the root stack (exports, some null) and components (registered outputs) too: they hand key
    ARNs out but encrypt nothing. In a first preview every new resource's id and ARN are unknown; a value computed
    from the key carries its URN as a dependency, so unknowns without one do not keep the question open."""
    rule = RULES["kms-key-in-use"]
    key = Node("aws:kms/key:Key", "logs", {**KEY, "arn": KEY_ARN, "keyId": "k-1", "id": "k-1"})
    exports = {"kmsKeyArns": {"logs": KEY_ARN}, "cache": {"tlsCaCertSecretArn": None}}
    stack = Node("pulumi:pulumi:Stack", "cryb-db-prod", exports)
    component = Node("cryb:kms:KmsKeys", "keys", {"arns": {"logs": KEY_ARN}})
    assert [n for n, _ in stack_violations(rule, [key, stack, component])] == ["logs"]
    group = Node("aws:cloudwatch/logGroup:LogGroup", "flow", {"name": "/flow", "kmsKeyId": KEY_ARN})
    assert stack_violations(rule, [key, stack, component, group]) == []

    pending_key = Node("aws:kms/key:Key", "logs", {**KEY, "arn": UNKNOWN_STRING_VALUE, "id": UNKNOWN_STRING_VALUE})
    new_group = Node(
        group.type,
        "flow",
        {"name": "/flow", "kmsKeyId": UNKNOWN_STRING_VALUE, "arn": UNKNOWN_STRING_VALUE},
        depends={"kmsKeyId": ["logs"]},
    )
    assert stack_violations(rule, [pending_key, new_group]) == []
    unrelated = Node(
        "aws:sns/topic:Topic", "alerts", {"name": "alerts", "arn": UNKNOWN_STRING_VALUE, "id": UNKNOWN_STRING_VALUE}
    )
    assert [n for n, _ in stack_violations(rule, [pending_key, unrelated])] == ["logs"]


def test_kms_key_in_use_counts_an_ebs_storage_class() -> None:
    """With engine kubernetes the data key encrypts only the volumes the EBS CSI driver provisions for the
    StorageClass; another Kubernetes object naming the ARN (a ConfigMap) is no use."""
    rule = RULES["kms-key-in-use"]
    key = Node("aws:kms/key:Key", "data", {**KEY, "arn": KEY_ARN, "keyId": "k-1", "id": "k-1"})
    storage = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "parameters": {"kmsKeyId": KEY_ARN}}
    storage_class = Node("kubernetes:storage.k8s.io/v1:StorageClass", "gp3", storage)
    config_map = Node("kubernetes:core/v1:ConfigMap", "outputs", {"data": {"outputs.json": KEY_ARN}})
    assert stack_violations(rule, [key, storage_class]) == []
    assert [n for n, _ in stack_violations(rule, [key, config_map])] == ["data"]
