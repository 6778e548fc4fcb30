"""Alarms, composites, topics, subscriptions and the forwarder on the graph the real program registers (both
stacks), a cluster-topology variant, and the cache path through a small synthetic program."""

import json
from pathlib import Path
from typing import Any

import pytest

from components.monitoring.alerts import PUBLISHERS
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import MOCK_ACCOUNT_ID, Evaluation, RecordedResource, evaluate
from scripts.preview.policy_runner import POLICY_CONFIG_DIR, run_policies
from scripts.preview.render import preview_document
from tests.helpers import stack_document, whole_stack, write_config

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
SECRET = "aws:secretsmanager/secret:Secret"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
MONITORING_RULES = ("data-stores-have-alarms", "sns-topic-has-subscription", "sns-delivery-status-logging")


def pg_config(ev: Evaluation) -> dict[str, Any]:
    return json.loads(ev.config["cryb-db:postgres"])


def monitored_alarms(ev: Evaluation, dimension: str, value: str) -> dict[str, RecordedResource]:
    """Alarms whose metric is exactly this resource's (not a replica sharing its name as prefix)."""
    return {a.inputs["name"]: a for a in ev.of_type(ALARM) if a.inputs.get("dimensions", {}).get(dimension) == value}


def topic(ev: Evaluation, severity: str) -> RecordedResource:
    (found,) = [t for t in ev.of_type(TOPIC) if t.inputs["tags"].get("severity") == severity]
    return found


def topic_arn(ev: Evaluation, severity: str) -> str:
    return f"arn:aws:sns:us-east-1:{MOCK_ACCOUNT_ID}:{topic(ev, severity).name}"


# -- alarms --------------------------------------------------------------------------------------------------------


# The recommended RDS alarm set, written out by hand (docs/monitoring.md): key -> (metric, statistic, comparison,
# evaluation periods = datapoints to alarm).
RDS_ALARMS = {
    "cpu": ("CPUUtilization", "Average", "GreaterThanThreshold", 5),
    "connections-warning": ("DatabaseConnections", "Average", "GreaterThanThreshold", 5),
    "connections-critical": ("DatabaseConnections", "Average", "GreaterThanThreshold", 5),
    "freeable-memory": ("FreeableMemory", "Average", "LessThanThreshold", 15),
    "free-storage": ("FreeStorageSpace", "Minimum", "LessThanThreshold", 5),
    "db-load": ("DBLoad", "Average", "GreaterThanThreshold", 15),
    "read-latency": ("ReadLatency", "p90", "GreaterThanThreshold", 5),
    "write-latency": ("WriteLatency", "p90", "GreaterThanThreshold", 5),
    "transaction-ids": ("MaximumUsedTransactionIDs", "Average", "GreaterThanThreshold", 1),
    "replication-slot-lag": ("OldestReplicationSlotLag", "Maximum", "GreaterThanThreshold", 5),
    "replica-lag": ("ReplicaLag", "Maximum", "GreaterThanThreshold", 10),
    "cpu-credits": ("CPUCreditBalance", "Minimum", "LessThanThreshold", 3),
}
RDS_EVERY_MEMBER = {"cpu", "connections-warning", "connections-critical", "freeable-memory", "free-storage", "db-load"}
RDS_EVERY_MEMBER |= {"read-latency", "write-latency"}
RDS_ROLE_KEYS = {
    "writer": RDS_EVERY_MEMBER | {"transaction-ids", "replication-slot-lag"},
    "replica": RDS_EVERY_MEMBER | {"replica-lag"},
    "cluster": RDS_EVERY_MEMBER | {"transaction-ids"},
}


def test_every_rds_instance_has_the_recommended_alarm_set_from_its_class(each_stack: Evaluation) -> None:
    instances = each_stack.of_type(INSTANCE)
    assert instances
    for instance in instances:
        role = "replica" if "replicateSourceDb" in instance.inputs else "writer"
        burstable = instance.inputs["instanceClass"].startswith("db.t")
        expected = RDS_ROLE_KEYS[role] | ({"cpu-credits"} if burstable else set())
        ident = instance.inputs["identifier"]
        alarms = monitored_alarms(each_stack, "DBInstanceIdentifier", ident)
        assert set(alarms) == {f"{ident}-{key}" for key in expected}, ident
        for key in expected:
            metric, statistic, comparison, periods = RDS_ALARMS[key]
            alarm = alarms[f"{ident}-{key}"].inputs
            assert (alarm["namespace"], alarm["metricName"]) == ("AWS/RDS", metric)
            assert alarm["comparisonOperator"] == comparison
            assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (periods, periods)
            assert (alarm.get("extendedStatistic") or alarm.get("statistic")) == statistic
            assert not ("statistic" in alarm and "extendedStatistic" in alarm)
            assert f"docs/monitoring.md#{key}" in alarm["alarmDescription"]


def test_thresholds_are_the_instance_class_numbers(prod: Evaluation, dev: Evaluation) -> None:
    """prod: db.r7g.2xlarge (8 vCPU, 64 GiB, max_connections 800), 400 GiB io2; dev: db.t4g.medium (2, 4 GiB, 200),
    20 GiB gp3."""
    for ev, ident, numbers in (
        (
            prod,
            "cryb-prod-pg-00",
            {
                "cpu": 90,
                "connections-warning": 640,
                "connections-critical": 720,
                "freeable-memory": 16 * 1024**3,
                "free-storage": 40 * 1024**3,
                "db-load": 8,
                "read-latency": 0.010,
                "write-latency": 0.010,
                "transaction-ids": 1_000_000_000,
                "replication-slot-lag": 40 * 1024**3,
            },
        ),
        (
            dev,
            "cryb-dev-pg-00",
            {
                "connections-warning": 160,
                "connections-critical": 180,
                "freeable-memory": 1024**3,
                "free-storage": 2 * 1024**3,
                "db-load": 2,
                "read-latency": 0.020,
                "cpu-credits": 20,
            },
        ),
    ):
        alarms = monitored_alarms(ev, "DBInstanceIdentifier", ident)
        assert {key: alarms[f"{ident}-{key}"].inputs["threshold"] for key in numbers} == pytest.approx(numbers)
    replica_lag = monitored_alarms(prod, "DBInstanceIdentifier", "cryb-prod-pg-03-replica-1")
    assert replica_lag["cryb-prod-pg-03-replica-1-replica-lag"].inputs["threshold"] == 60


def test_every_alarm_notifies_on_alarm_and_ok(each_stack: Evaluation) -> None:
    warning, critical = topic_arn(each_stack, "warning"), topic_arn(each_stack, "critical")
    alarms = each_stack.of_type(ALARM) + each_stack.of_type(COMPOSITE)
    assert len(alarms) > 10
    for alarm in alarms:
        actions = (alarm.inputs.get("alarmActions"), alarm.inputs.get("okActions"))
        assert actions[0] and actions[0] == actions[1], alarm.name
        assert alarm.inputs.get("actionsEnabled", True) is True
        # Member alarms notify chat; what pages is the composite (and the forwarder's dead letters).
        pages = alarm.type == COMPOSITE or alarm.name.endswith("forwarder-dead-letters")
        assert actions[0] == [critical if pages else warning], alarm.name


def cache_groups(ev: Evaluation) -> list[str]:
    """`<replication group>-<node group>` of every recorded ElastiCache replication group (once the cache is wired)."""
    return [
        f"{g.inputs['replicationGroupId']}-{n:04d}"
        for g in ev.of_type(REPLICATION_GROUP)
        for n in range(1, int(g.inputs["numNodeGroups"]) + 1)
    ]


def test_one_composite_per_shard_built_from_its_critical_alarms(each_stack: Evaluation) -> None:
    names = {a.inputs["name"]: a for a in each_stack.of_type(ALARM)}
    composites = {c.inputs["alarmName"]: c for c in each_stack.of_type(COMPOSITE)}
    shards = [s["name"] for s in each_stack.outputs["postgres"]["shards"]]
    clusters = [c.name for c in each_stack.resources if c.type == "cryb:postgres_selfhosted:SelfHostedCluster"]
    assert set(composites) == {f"{group}-unhealthy" for group in {*shards, *cache_groups(each_stack), *clusters}}
    for shard in shards:
        rule = composites[f"{shard}-unhealthy"].inputs["alarmRule"]
        children = [part.removeprefix('ALARM("').removesuffix('")') for part in rule.split(" OR ")]
        expected = [
            n
            for n, a in names.items()
            if a.inputs["tags"].get("group") == shard and a.inputs["tags"]["severity"] == "critical"
        ]
        assert sorted(children) == sorted(expected) and children
        assert {f"{shard}-cpu", f"{shard}-free-storage", f"{shard}-transaction-ids"} <= set(children)
    assert each_stack.outputs["monitoring"]["compositeAlarmNames"] == sorted(composites)


def test_cluster_topology_alarms_on_the_cluster(tmp_path: Path) -> None:
    section = {**stack_document("dev")["config"]["cryb-db:postgres"], "topology": "cluster"}
    section.update(instanceClass="db.r6gd.large", shardCount=2, readReplicas=0)
    ev = evaluate("dev", write_config(tmp_path, "dev", {"cryb-db:postgres": section}))
    expected = RDS_ROLE_KEYS["cluster"]  # db.r6gd.large is not burstable: no cpu-credits
    for cluster in ev.of_type(CLUSTER):
        ident = cluster.inputs["clusterIdentifier"]
        alarms = monitored_alarms(ev, "DBClusterIdentifier", ident)
        assert set(alarms) == {f"{ident}-{key}" for key in expected}
    pg_composites = [c for c in ev.of_type(COMPOSITE) if c.inputs["alarmName"].startswith("cryb-dev-pg-")]
    assert len(pg_composites) == 2
    assert not [v for v in run_policies(ev, POLICY_CONFIG_DIR / "prod.json") if v["policy"] == MONITORING_RULES[0]]


# -- alert routing -------------------------------------------------------------------------------------------------


def test_topic_policies_let_only_aws_services_of_this_account_publish(each_stack: Evaluation) -> None:
    policies = each_stack.of_type(TOPIC_POLICY)
    assert {p.inputs["arn"] for p in policies} == {topic_arn(each_stack, s) for s in ("critical", "warning")}
    for policy in policies:
        document = json.loads(policy.inputs["policy"])
        publish = [s for s in document["Statement"] if s["Action"] == "sns:Publish"]
        assert len(publish) == 1
        assert (
            sorted(publish[0]["Principal"]["Service"])
            == sorted(PUBLISHERS)
            == sorted(
                [
                    "cloudwatch.amazonaws.com",
                    "events.rds.amazonaws.com",
                    "elasticache.amazonaws.com",
                    "backup.amazonaws.com",
                    "events.amazonaws.com",  # EventBridge carries ElastiCache events to encrypted topics
                ]
            )
        )
        assert publish[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": MOCK_ACCOUNT_ID}}
        assert publish[0]["Resource"] == policy.inputs["arn"]
        principals = [json.dumps(s["Principal"]) for s in document["Statement"]]
        assert not [p for p in principals if '"*"' in p]


def test_topics_are_encrypted_and_log_delivery_status(each_stack: Evaluation) -> None:
    (key,) = [k for k in each_stack.of_type("aws:kms/key:Key") if k.name.endswith("-alerts-key")]
    (logging_role,) = [r for r in each_stack.of_type(ROLE) if r.name.endswith("-delivery-logging")]
    trust = json.loads(logging_role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "sns.amazonaws.com"}
    role_arn = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{logging_role.name}"
    groups = {g.inputs["name"]: g.inputs for g in each_stack.of_type(LOG_GROUP)}
    retention = 365 if each_stack.stack == "prod" else 30
    for severity in ("critical", "warning"):
        t = topic(each_stack, severity).inputs
        assert t["kmsMasterKeyId"] == f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT_ID}:key/{key.name}"
        for protocol in ("http", "lambda"):
            assert t[f"{protocol}FailureFeedbackRoleArn"] == t[f"{protocol}SuccessFeedbackRoleArn"] == role_arn
        base = f"sns/us-east-1/{MOCK_ACCOUNT_ID}/{topic(each_stack, severity).name}"
        for name in (base, f"{base}/Failure"):
            assert groups[name]["retentionInDays"] == retention and groups[name]["kmsKeyId"].endswith("-keys-logs")


def forwarders(ev: Evaluation) -> list[RecordedResource]:
    """The alert forwarder (the stack has other functions, e.g. the cache password rotation)."""
    return [f for f in ev.of_type(FUNCTION) if f.name.endswith("-alerts-forwarder")]


def test_subscriptions_pagerduty_in_prod_forwarder_everywhere(prod: Evaluation, dev: Evaluation) -> None:
    (function,) = forwarders(prod)
    function_arn = f"arn:aws:lambda:us-east-1:{MOCK_ACCOUNT_ID}:function:{function.name}"
    for ev in (prod, dev):
        by_topic: dict[str, set[str]] = {}
        for sub in ev.of_type(SUBSCRIPTION):
            by_topic.setdefault(sub.inputs["topic"], set()).add(sub.inputs["protocol"])
        expected_critical = {"lambda", "https"} if ev.stack == "prod" else {"lambda"}
        assert by_topic == {topic_arn(ev, "critical"): expected_critical, topic_arn(ev, "warning"): {"lambda"}}
        forwarder_permissions = [p for p in ev.of_type(PERMISSION) if p.name.endswith("-invokes-forwarder")]
        assert len(forwarder_permissions) == 2
        for permission in forwarder_permissions:
            assert permission.inputs["principal"] == "sns.amazonaws.com"
            assert permission.inputs["sourceArn"] in (topic_arn(ev, "critical"), topic_arn(ev, "warning"))
    lambda_subs = [s for s in prod.of_type(SUBSCRIPTION) if s.inputs["protocol"] == "lambda"]
    assert {s.inputs["endpoint"] for s in lambda_subs} == {function_arn}
    (pager,) = [s for s in prod.of_type(SUBSCRIPTION) if s.inputs["protocol"] == "https"]
    assert "endpoint" in pager.secret_paths and pager.masked_inputs()["endpoint"] == "[secret]"
    assert pager.inputs["endpointAutoConfirms"] is True and json.loads(pager.inputs["deliveryPolicy"])


def test_pagerduty_url_never_leaves_the_secret(prod: Evaluation) -> None:
    document = json.dumps(preview_document(prod, []))
    assert "placeholder-set-with-pulumi" not in document and "pagerduty.com/integration" not in document


def test_forwarder_is_packaged_from_this_repo_and_locked_down(each_stack: Evaluation) -> None:
    (function,) = forwarders(each_stack)
    inputs = function.inputs
    # deployed from the signed copy of the package uploaded beside it (components/signing)
    (package,) = [p for p in each_stack.of_type("aws:s3/bucketObjectv2:BucketObjectv2") if p.parent == function.parent]
    assert "code" not in inputs and inputs["s3Key"].startswith(f"signed/{function.name}/")
    (asset,) = package.inputs["source"]["assets"].values()
    forwarder = PROJECT_DIR / "components" / "monitoring" / "alert_forwarder" / "handler.py"
    assert (PROJECT_DIR / asset["path"]).resolve() == forwarder
    assert list(package.inputs["source"]["assets"]) == ["handler.py"] and inputs["handler"] == "handler.handler"
    assert (inputs["runtime"], inputs["tracingConfig"], inputs["reservedConcurrentExecutions"]) == (
        "python3.12",
        {"mode": "Active"},
        2,
    )
    (secret,) = [s for s in each_stack.of_type(SECRET) if s.name.endswith("-chat-webhooks")]
    assert secret.inputs["kmsKeyId"].endswith("-keys-secrets")
    variables = inputs["environment"]["variables"]
    assert variables["WEBHOOK_SECRET_ARN"] == each_stack.outputs["monitoring"]["chatWebhookSecretArn"]
    assert json.loads(variables["SEVERITY_BY_TOPIC"]) == {
        topic_arn(each_stack, "critical"): "critical",
        topic_arn(each_stack, "warning"): "warning",
    }
    (queue,) = each_stack.of_type(QUEUE)
    assert inputs["deadLetterConfig"]["targetArn"] == f"arn:aws:sqs:us-east-1:{MOCK_ACCOUNT_ID}:{queue.name}"
    assert queue.inputs["kmsMasterKeyId"] == inputs["kmsKeyArn"]
    log_group = next(
        g for g in each_stack.of_type(LOG_GROUP) if g.inputs["name"] == inputs["loggingConfig"]["logGroup"]
    )
    assert log_group.inputs["kmsKeyId"].endswith("-keys-logs")
    (policy,) = [p for p in each_stack.of_type(ROLE_POLICY) if p.name.endswith("-alerts-forwarder")]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["WebhookSecret"]["Resource"] == variables["WEBHOOK_SECRET_ARN"]
    assert statements["WebhookSecret"]["Action"] == "secretsmanager:GetSecretValue"
    # "*" only where AWS has no resource-level permissions: X-Ray, and the VPC interfaces Lambda manages
    assert sorted(sid for sid, s in statements.items() if s["Resource"] == "*") == ["Tracing", "VpcNetworkInterfaces"]
    assert set(statements["VpcNetworkInterfaces"]["Action"]) == {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }
    # in the app subnets (NAT egress), behind a group that admits nothing and sends only HTTPS
    vpc = inputs["vpcConfig"]
    assert vpc["subnetIds"] == each_stack.outputs["network"]["appSubnetIds"]
    (group_id,) = vpc["securityGroupIds"]
    group = each_stack.by_id(group_id)
    assert group is not None and group.name.endswith("-alerts-forwarder-sg")
    rules = [r for r in each_stack.resources if r.inputs.get("securityGroupId") == group_id]
    assert [(r.type.split(":")[-1], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules] == [
        ("SecurityGroupEgressRule", 443, 443)
    ]
    assert secret.inputs["tags"]["rotation-exempt"] == "issued-by-third-party"
    assert statements["Tracing"]["Resource"] == "*"


def test_monitoring_rules_now_pass_on_both_stacks(each_stack: Evaluation) -> None:
    config = POLICY_CONFIG_DIR / f"{each_stack.stack}.json"
    levels = json.loads(config.read_text())
    assert [levels.get(rule, "mandatory") for rule in MONITORING_RULES] == ["mandatory"] * 3
    violations = run_policies(whole_stack(each_stack), config)
    assert [v for v in violations if v["policy"] in MONITORING_RULES] == []
    assert [v for v in violations if v["level"] == "mandatory"] == []


def test_monitoring_output_points_at_recorded_resources(each_stack: Evaluation) -> None:
    output = each_stack.outputs["monitoring"]
    (dashboard,) = each_stack.of_type("aws:cloudwatch/dashboard:Dashboard")
    assert output["dashboardName"] == dashboard.inputs["dashboardName"] == f"cryb-db-{each_stack.stack}"
    assert output["dashboardUrl"].endswith(f"#dashboards/dashboard/cryb-db-{each_stack.stack}")
    assert output["topicArns"] == each_stack.outputs["alertTopicArns"]
    (function,) = forwarders(each_stack)
    assert output["forwarderFunctionName"] == function.name


def test_every_taggable_monitoring_resource_is_tagged(each_stack: Evaluation) -> None:
    taggable = (ALARM, COMPOSITE, FUNCTION, QUEUE, SECRET, ROLE, LOG_GROUP, TOPIC)
    resources = [r for r in each_stack.resources if r.type in taggable]
    assert len(resources) > 20
    for resource in resources:
        assert resource.inputs["tags"]["environment"] == each_stack.stack, resource.name
        assert resource.inputs["tags"]["Name"], resource.name


# -- the cache path (synthetic program until the lead wires the cache into __main__.py) ----------------------------

CACHE_PROGRAM = """
import pulumi_aws as aws
from components.monitoring.alarm_thresholds import AlarmSettings
from components.cache.component import elasticache_node_groups
from components.monitoring.component import Monitoring

TAGS = {"environment": "dev", "service": "cryb-db", "owner": "platform-team", "data-classification": "internal"}
aws.elasticache.ReplicationGroup(
    "cryb-syn-cache-rg",
    replication_group_id="cryb-syn-cache",
    description="synthetic",
    engine="valkey",
    node_type="cache.r7g.large",
    num_node_groups=2,
    replicas_per_node_group=1,
    tags=TAGS,
)
Monitoring(
    "cryb-syn-monitoring",
    {
        "postgres_shards": [],
        "postgres_allocated_storage_gb": 20,
        "postgres_storage_type": "gp3",
        "cache": {
            "node_groups": elasticache_node_groups("cryb-syn-cache", 2, 1),
            "node_type": "cache.r7g.large",
            "maxmemory_policy": "volatile-lru",
        },
        "notify_topic_arn": "arn:aws:sns:us-east-1:123456789012:warning",
        "page_topic_arn": "arn:aws:sns:us-east-1:123456789012:critical",
        "settings": AlarmSettings(),
        "dashboard_name": "cryb-db-syn",
        "region": "us-east-1",
        "account_id": "123456789012",
        "tags": TAGS,
    },
)
"""


@pytest.fixture(scope="module")
def cache_stack(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    program = tmp_path_factory.mktemp("cache-program")
    (program / "__main__.py").write_text(CACHE_PROGRAM)
    return evaluate("dev", PROJECT_DIR / "Pulumi.dev.yaml", program_dir=program)


def test_every_cache_node_has_its_alarm_set(cache_stack: Evaluation) -> None:
    members = [f"cryb-syn-cache-{group:04d}-{node:03d}" for group in (1, 2) for node in (1, 2)]
    for member in members:
        replica = member.endswith("-002")
        # cache.r7g.large has 2 vCPUs: the host `cpu` alarm applies; only a replica reports ReplicationLag
        expected = {"engine-cpu", "memory", "evictions", "connections", "auth-failures", "cpu"}
        expected |= {"replication-lag"} if replica else set()
        alarms = monitored_alarms(cache_stack, "CacheClusterId", member)
        assert set(alarms) == {f"{member}-{key}" for key in expected}
        assert ("replication-lag" in {a.removeprefix(member + "-") for a in alarms}) == replica
        assert alarms[f"{member}-cpu"].inputs["threshold"] == 45  # 2 vCPUs
        assert alarms[f"{member}-engine-cpu"].inputs["namespace"] == "AWS/ElastiCache"
    composites = {c.inputs["alarmName"]: c.inputs["alarmRule"] for c in cache_stack.of_type(COMPOSITE)}
    assert set(composites) == {"cryb-syn-cache-0001-unhealthy", "cryb-syn-cache-0002-unhealthy"}
    assert composites["cryb-syn-cache-0001-unhealthy"] == " OR ".join(
        f'ALARM("cryb-syn-cache-0001-{n}-{k}")' for n in ("001", "002") for k in ("engine-cpu", "memory")
    )


def test_cache_alarms_satisfy_the_data_store_rule(cache_stack: Evaluation) -> None:
    violations = run_policies(cache_stack, POLICY_CONFIG_DIR / "prod.json")
    assert [v for v in violations if v["policy"] in ("data-stores-have-alarms", "cloudwatch-alarm-has-actions")] == []
    assert [v for v in violations if v["policy"] == "required-tags"] == []
    (group,) = cache_stack.of_type(REPLICATION_GROUP)
    assert group.inputs["replicationGroupId"] == "cryb-syn-cache"


def test_every_selfhosted_node_of_prod_is_alarmed_and_pages_through_its_cluster(prod: Evaluation) -> None:
    """prod declares the analytics cluster (i4i.2xlarge, 3 nodes): each node's group has the full set."""
    groups = [
        g.name
        for g in prod.of_type("aws:autoscaling/group:Group")
        if any(a.type == "cryb:postgres_selfhosted:SelfHostedCluster" for a in prod.ancestors(g))
    ]
    assert sorted(groups) == [f"cryb-prod-analytics-node-{letter}" for letter in "abc"]
    expected = {
        "status-check",
        "in-service",
        "cpu",
        "data-disk-warning",
        "data-disk-critical",
        "memory",
        "replication-lag",
    }
    for group in groups:
        alarms = monitored_alarms(prod, "AutoScalingGroupName", group)
        # The metrics agent's replication lag names the cluster and the Patroni member instead of the group.
        alarms |= monitored_alarms(prod, "Node", f"analytics-{group[-1]}")
        assert set(alarms) == {f"{group}-{key}" for key in expected}, group
        lag = alarms[f"{group}-replication-lag"].inputs
        assert lag["dimensions"] == {"Cluster": "cryb-prod-analytics", "Node": f"analytics-{group[-1]}"}
        assert (lag["namespace"], lag["metricName"]) == ("cryb-db/selfhosted", "replication_lag_bytes")
    assert "cryb-prod-analytics-unhealthy" in prod.outputs["monitoring"]["compositeAlarmNames"]
