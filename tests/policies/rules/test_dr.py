"""`policies/rules/dr.py`, the warm standby: each rule passes the standby the program declares and reports each way
it can be broken (wrong region, unencrypted, no lag alarm, public), on single resources and synthetic graphs."""

from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import (
    INSTANCE,
    RDS_INSTANCE,
    RULES,
    TAGS,
    TOPIC_ARN,
    Node,
    changed,
    resource_violations,
    stack_violations,
)

WRITER_ARN = "arn:aws:rds:us-east-1:123456789012:db:cryb-prod-pg-00"
DR_KEY = "arn:aws:kms:us-west-2:123456789012:key/dr-data"
DR_TAGS = {**TAGS, "dr": "standby"}
STANDBY = {
    "identifier": "cryb-prod-pg-dr-00",
    "replicateSourceDb": WRITER_ARN,
    "instanceClass": "db.r7g.2xlarge",
    "storageEncrypted": True,
    "kmsKeyId": DR_KEY,
    "publiclyAccessible": False,
    "tags": DR_TAGS,
}
WRITER = changed(INSTANCE, identifier="cryb-prod-pg-00", arn=WRITER_ARN)
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def lag_alarm(member: str, **extra: Any) -> Node:
    props = {
        "metricName": "ReplicaLag",
        "dimensions": {"DBInstanceIdentifier": member},
        "alarmActions": [TOPIC_ARN],
        **extra,
    }
    return Node(ALARM, f"{member}-replica-lag", props)


def standby(**changes: Any) -> Node:
    props = changed(STANDBY, arn="arn:aws:rds:us-west-2:123456789012:db:cryb-prod-pg-dr-00", **changes)
    return Node(RDS_INSTANCE, "standby", props)


def test_standby_in_another_region_passes_the_declared_standby() -> None:
    assert resource_violations(RULES["dr-standby-in-another-region"], RDS_INSTANCE, STANDBY) == []


def test_standby_in_its_sources_region_is_reported() -> None:
    rule = RULES["dr-standby-in-another-region"]
    same_region = changed(STANDBY, kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/data")
    (message,) = resource_violations(rule, RDS_INSTANCE, same_region)
    assert "its source's region (us-east-1)" in message
    by_name = resource_violations(rule, RDS_INSTANCE, changed(STANDBY, replicateSourceDb="cryb-prod-pg-00"))
    assert any("is not an ARN" in m for m in by_name)
    unencrypted = resource_violations(rule, RDS_INSTANCE, changed(STANDBY, storageEncrypted=False))
    assert any("not encrypted" in m for m in unencrypted)


def test_standby_rule_ignores_untagged_replicas_and_unknowns() -> None:
    rule = RULES["dr-standby-in-another-region"]
    in_region_replica = changed(STANDBY, tags=TAGS, kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/data")
    assert resource_violations(rule, RDS_INSTANCE, in_region_replica) == []
    assert resource_violations(rule, RDS_INSTANCE, changed(STANDBY, kmsKeyId=UNKNOWN_STRING_VALUE)) == []


def test_every_shard_has_an_encrypted_standby_with_a_lag_alarm() -> None:
    rule = RULES["dr-standby-per-shard"]
    writer = Node(RDS_INSTANCE, "writer", WRITER)
    complete = [writer, standby(), lag_alarm("cryb-prod-pg-dr-00")]
    assert stack_violations(rule, complete) == []
    assert stack_violations(rule, [writer]) == [
        ("writer", "no standby in another region than us-east-1: a region loss means restoring from backups.")
    ]
    in_region = changed(STANDBY, arn="arn:aws:rds:us-east-1:123456789012:db:cryb-prod-pg-dr-00")
    assert [n for n, _ in stack_violations(rule, [writer, Node(RDS_INSTANCE, "r", in_region)])] == ["writer"]
    no_alarm = stack_violations(rule, [writer, standby()])
    assert [(n, "ReplicaLag" in m) for n, m in no_alarm] == [("standby", True)]
    silent_alarm = [writer, standby(), lag_alarm("cryb-prod-pg-dr-00", alarmActions=[])]
    assert [n for n, _ in stack_violations(rule, silent_alarm)] == ["standby"]
    unencrypted = [writer, standby(storageEncrypted=False), lag_alarm("cryb-prod-pg-dr-00")]
    assert [n for n, _ in stack_violations(rule, unencrypted)] == ["standby"]


def test_a_multi_az_db_cluster_is_reported_as_having_no_standby() -> None:
    cluster = Node("aws:rds/cluster:Cluster", "c", {"dbClusterInstanceClass": "db.r6gd.xlarge", "tags": TAGS})
    (found,) = stack_violations(RULES["dr-standby-per-shard"], [cluster])
    assert found[0] == "c" and "cannot have a cross-Region standby" in found[1]


def test_nothing_in_the_dr_region_is_publicly_reachable() -> None:
    rule = RULES["dr-not-publicly-reachable"]
    assert resource_violations(rule, RDS_INSTANCE, STANDBY) == []
    assert resource_violations(rule, RDS_INSTANCE, changed(STANDBY, publiclyAccessible=True)) != []
    subnet = {"mapPublicIpOnLaunch": False, "cidrBlock": "10.21.64.0/20", "tags": DR_TAGS}
    assert resource_violations(rule, "aws:ec2/subnet:Subnet", subnet) == []
    assert resource_violations(rule, "aws:ec2/subnet:Subnet", changed(subnet, mapPublicIpOnLaunch=True)) != []
    ingress = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    from_group = {"ipProtocol": "tcp", "fromPort": 5433, "referencedSecurityGroupId": "sg-app", "tags": DR_TAGS}
    assert resource_violations(rule, ingress, from_group) == []
    assert resource_violations(rule, ingress, changed(from_group, cidrIpv4="0.0.0.0/0")) != []
    group = "aws:ec2/securityGroup:SecurityGroup"
    assert resource_violations(rule, group, {"ingress": [{"cidrBlocks": ["0.0.0.0/0"]}], "tags": DR_TAGS}) != []
    # The primary region's resources are the other rules' business (rds-not-publicly-accessible, ...).
    assert resource_violations(rule, RDS_INSTANCE, changed(STANDBY, publiclyAccessible=True, tags=TAGS)) == []


def node_group(name: str, cluster: str, *, dr: bool) -> Node:
    tags = [{"key": "cryb-db-cluster", "value": cluster, "propagateAtLaunch": True}]
    tags += [{"key": "dr", "value": "standby", "propagateAtLaunch": True}] if dr else []
    return Node("aws:autoscaling/group:Group", name, {"maxSize": 1, "tags": tags})


def test_every_selfhosted_cluster_has_a_standby_cluster_where_the_stack_has_a_standby() -> None:
    rule = RULES["dr-standby-cluster-per-selfhosted-cluster"]
    primary = node_group("cryb-prod-analytics-node-a", "analytics", dr=False)
    standby_node = node_group("cryb-prod-dr-analytics-node-a", "analytics", dr=True)
    assert stack_violations(rule, [primary, standby_node]) == []
    dr_network = Node("aws:ec2/vpc:Vpc", "cryb-prod-dr-vpc", {"cidrBlock": "10.21.0.0/16", "tags": DR_TAGS})
    assert stack_violations(rule, [primary, dr_network]) == [
        (
            "cryb-prod-analytics-node-a",
            "self-hosted cluster 'analytics' has no standby cluster in the DR region: a region loss means restoring "
            "it from the replicated repository (hours).",
        )
    ]
    # A stack without any DR standby (dev) and the engine-ec2 shards' clusters are not this rule's business.
    assert stack_violations(rule, [primary]) == []
    assert stack_violations(rule, [node_group("cryb-dev-pg-00-node-a", "shard0", dr=False), dr_network]) == []
