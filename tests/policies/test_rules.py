"""Every rule of the policy pack on synthetic resources shaped like the engine's (camelCase, floats): a compliant
input passes, a violating one is reported, and values unknown during a preview neither crash nor report.

Rules run through the same pulumi_policy objects the pack registers, with props behind the SDK's
unknown-checking proxy and unknowns as the engine's sentinel strings, as in a real `pulumi preview`.
"""

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from policies.rules import all_rules
from policies.rules.base import AnyRule, ResourceRule, StackRule

RULES = {rule.name: rule for rule in all_rules()}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/data"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:alerts"
ROLE_ARN = "arn:aws:iam::123456789012:role/rds-monitoring"
TAGS = {"environment": "prod", "service": "cryb-db", "owner": "platform-team", "data-classification": "confidential"}
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def changed(base: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of `base` with top-level keys replaced; a value of `...` removes the key."""
    result = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if value is ...:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def urn(type_token: str, name: str) -> str:
    return f"urn:pulumi:test::cryb-db::{type_token}::{name}"


def resource_violations(rule: AnyRule, type_token: str, props: Mapping[str, Any], config: Any = None) -> list[str]:
    assert isinstance(rule, ResourceRule)
    messages: list[str] = []
    args = ResourceValidationArgs(
        type_token, unknown_checking_proxy(copy.deepcopy(dict(props))), urn(type_token, "r"), "r", OPTIONS, None, config
    )
    rule.policy().validate(args, lambda message, _urn=None: messages.append(message))
    return messages


@dataclass
class Node:
    """A resource of a synthetic stack, with the dependencies the real engine would record."""

    type: str
    name: str
    props: dict[str, Any]
    depends: dict[str, list[str]] = field(default_factory=dict)  # property -> names of resources it came from


def stack_violations(rule: AnyRule, nodes: Sequence[Node], config: Any = None) -> list[tuple[str, str]]:
    assert isinstance(rule, StackRule)
    resources = {
        n.name: PolicyResource(
            n.type,
            unknown_checking_proxy(copy.deepcopy(n.props)),
            urn(n.type, n.name),
            n.name,
            OPTIONS,
            None,
            None,
            [],
            {},
        )
        for n in nodes
    }
    for n in nodes:
        resources[n.name].property_dependencies = {k: [resources[d] for d in v] for k, v in n.depends.items()}
    by_urn = {r.urn: name for name, r in resources.items()}
    found: list[tuple[str, str]] = []
    args = StackValidationArgs(list(resources.values()), config)
    rule.policy().validate(args, lambda message, u=None: found.append((by_urn.get(u or "", ""), message)))
    return found


@dataclass(frozen=True)
class Case:
    """One rule on one resource type: `good` passes, each of `bad` is reported, each of `unknown` is silent."""

    rule: str
    type: str
    good: dict[str, Any]
    bad: Sequence[dict[str, Any]]
    unknown: Sequence[dict[str, Any]] = ()
    config: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.rule}@{self.type.split(':')[-1]}"


RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = {
    "engine": "postgres",
    "engineVersion": "17",
    "instanceClass": "db.r7g.large",
    "publiclyAccessible": False,
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "multiAz": True,
    "monitoringInterval": 60.0,
    "monitoringRoleArn": ROLE_ARN,
    "deletionProtection": True,
    "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
    "iamDatabaseAuthenticationEnabled": True,
    "backupRetentionPeriod": 35.0,
    "autoMinorVersionUpgrade": True,
    "copyTagsToSnapshot": True,
    "dbSubnetGroupName": "cryb-prod-db",
    "port": 5433.0,
    "username": "cryb_admin",
    "parameterGroupName": "cryb-prod-pg17",
    "tags": TAGS,
}
MULTI_AZ_CLUSTER = {
    "engine": "postgres",
    "dbClusterInstanceClass": "db.r6gd.xlarge",
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "monitoringInterval": 15.0,
    "monitoringRoleArn": ROLE_ARN,
    "deletionProtection": True,
    "enabledCloudwatchLogsExports": ["postgresql"],
    "iamDatabaseAuthenticationEnabled": True,
    "backupRetentionPeriod": 7.0,
    "copyTagsToSnapshot": True,
    "dbSubnetGroupName": "cryb-prod-db",
    "dbClusterParameterGroupName": "cryb-prod-pg17-cluster",
    "port": 5433.0,
    "masterUsername": "cryb_admin",
    "tags": TAGS,
}
REPLICA = {
    "replicateSourceDb": "cryb-prod-pg-00",
    "instanceClass": "db.r7g.large",
    "monitoringInterval": 60.0,
    "monitoringRoleArn": ROLE_ARN,
    "deletionProtection": True,
    "enabledCloudwatchLogsExports": ["postgresql"],
    "iamDatabaseAuthenticationEnabled": True,
    "copyTagsToSnapshot": True,
    "tags": TAGS,
}
PG_PARAMETERS = {"family": "postgres17", "parameters": [{"name": "rds.force_ssl", "value": "1"}], "tags": TAGS}

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE = {
    "engine": "valkey",
    "engineVersion": "8.0",
    "replicationGroupId": "cryb-prod-cache",
    "snapshotRetentionLimit": 7.0,
    "autoMinorVersionUpgrade": True,
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "atRestEncryptionEnabled": True,
    "kmsKeyId": KEY_ARN,
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "userGroupIds": ["cryb-prod-cache-users"],
    "subnetGroupName": "cryb-prod-cache",
    "tags": TAGS,
}


def policy_json(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


DENY_PLAINTEXT = {
    "Sid": "DenyPlaintext",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
PUBLIC_READ = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
ACCOUNT_ROOT = {
    "Sid": "Account",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
VIA_SERVICE = {
    "Sid": "Via",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {
        "StringEquals": {"kms:CallerAccount": "123456789012", "kms:ViaService": "rds.us-east-1.amazonaws.com"}
    },
}
PUBLISH_FROM_CLOUDWATCH = {
    "Sid": "CloudWatchPublishes",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": TOPIC_ARN,
    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
}
ANYONE_PUBLISHES = {
    "Sid": "Anyone",
    "Effect": "Allow",
    "Principal": {"AWS": "*"},
    "Action": "sns:Publish",
    "Resource": TOPIC_ARN,
}

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
TEMPLATE = {
    "imageId": "ami-0123456789abcdef0",
    "instanceType": "i4i.xlarge",
    "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0, "httpEndpoint": "enabled"},
    "networkInterfaces": [{"associatePublicIpAddress": "false", "deviceIndex": 0.0}],
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN}}],
    "tags": TAGS,
}
EC2_INSTANCE = "aws:ec2/instance:Instance"
HOST = {
    "ami": "ami-0123456789abcdef0",
    "instanceType": "i4i.xlarge",
    "subnetId": "subnet-data-a",
    "associatePublicIpAddress": False,
    "metadataOptions": {"httpTokens": "required"},
    "rootBlockDevice": {"encrypted": True, "kmsKeyId": KEY_ARN},
    "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": True}],
    "tags": TAGS,
}
WORLD_TCP = {
    "ruleNo": 200.0,
    "action": "allow",
    "protocol": "tcp",
    "fromPort": 0.0,
    "toPort": 65535.0,
    "cidrBlock": "0.0.0.0/0",
}
RETURN_TRAFFIC = [
    {"ruleNo": 100.0, "action": "allow", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlock": "10.20.0.0/16"},
    {
        "ruleNo": 200.0,
        "action": "allow",
        "protocol": "tcp",
        "fromPort": 1024.0,
        "toPort": 3388.0,
        "cidrBlock": "0.0.0.0/0",
    },
    {
        "ruleNo": 201.0,
        "action": "allow",
        "protocol": "tcp",
        "fromPort": 3390.0,
        "toPort": 65535.0,
        "cidrBlock": "0.0.0.0/0",
    },
]
KEY = {
    "description": "cryb-db data",
    "enableKeyRotation": True,
    "rotationPeriodInDays": 365.0,
    "deletionWindowInDays": 30.0,
    "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
    "policy": policy_json(ACCOUNT_ROOT, VIA_SERVICE),
    "tags": TAGS,
}
DECRYPT_ONE_KEY = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN}
TOPIC = {
    "kmsMasterKeyId": KEY_ARN,
    "httpFailureFeedbackRoleArn": ROLE_ARN,
    "policy": policy_json(PUBLISH_FROM_CLOUDWATCH),
    "tags": TAGS,
}
ALARM = {
    "metricName": "CPUUtilization",
    "namespace": "AWS/RDS",
    "dimensions": {"DBInstanceIdentifier": "cryb-prod-pg-00"},
    "comparisonOperator": "GreaterThanThreshold",
    "threshold": 90.0,
    "evaluationPeriods": 5.0,
    "alarmActions": [TOPIC_ARN],
    "tags": TAGS,
}
FUNCTION = {
    "role": ROLE_ARN,
    "runtime": "python3.12",
    "vpcConfig": {"subnetIds": ["subnet-app-a"], "securityGroupIds": ["sg-app"]},
    "tracingConfig": {"mode": "Active"},
    "tags": TAGS,
}

CASES = [
    # RDS
    Case(
        "rds-not-publicly-accessible",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, publiclyAccessible=True)],
        [changed(INSTANCE, publiclyAccessible=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "rds-not-publicly-accessible",
        "aws:rds/clusterInstance:ClusterInstance",
        {"clusterIdentifier": "c"},
        [{"clusterIdentifier": "c", "publiclyAccessible": True}],
    ),
    Case(
        "rds-storage-encrypted",
        RDS_INSTANCE,
        INSTANCE,
        [
            changed(INSTANCE, storageEncrypted=...),
            changed(INSTANCE, storageEncrypted=False),
            changed(INSTANCE, kmsKeyId=...),
        ],
        [changed(INSTANCE, storageEncrypted=UNKNOWN_BOOLEAN_VALUE, kmsKeyId=UNKNOWN_STRING_VALUE)],
    ),
    Case("rds-storage-encrypted", RDS_INSTANCE, REPLICA, [changed(INSTANCE, storageEncrypted=False)]),
    Case("rds-storage-encrypted", RDS_CLUSTER, MULTI_AZ_CLUSTER, [changed(MULTI_AZ_CLUSTER, storageEncrypted=...)]),
    Case(
        "rds-snapshot-not-public",
        "aws:rds/snapshot:Snapshot",
        {"dbInstanceIdentifier": "db", "sharedAccounts": ["111122223333"]},
        [{"dbInstanceIdentifier": "db", "sharedAccounts": ["all"]}],
        [{"dbInstanceIdentifier": "db", "sharedAccounts": UNKNOWN_ARRAY_VALUE}],
    ),
    Case(
        "rds-snapshot-copy-encrypted",
        "aws:rds/snapshotCopy:SnapshotCopy",
        {"sourceDbSnapshotIdentifier": "arn:snap", "kmsKeyId": KEY_ARN},
        [{"sourceDbSnapshotIdentifier": "arn:snap"}],
        [{"sourceDbSnapshotIdentifier": "arn:snap", "kmsKeyId": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "rds-multi-az",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, multiAz=False), changed(INSTANCE, multiAz=...)],
        [changed(INSTANCE, multiAz=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "rds-multi-az",
        RDS_CLUSTER,
        MULTI_AZ_CLUSTER,
        [changed(MULTI_AZ_CLUSTER, availabilityZones=["us-east-1a"])],
        [changed(MULTI_AZ_CLUSTER, availabilityZones=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "rds-enhanced-monitoring",
        RDS_INSTANCE,
        INSTANCE,
        [
            changed(INSTANCE, monitoringInterval=...),
            changed(INSTANCE, monitoringInterval=0.0),
            changed(INSTANCE, monitoringRoleArn=...),
        ],
        [changed(INSTANCE, monitoringInterval=UNKNOWN_NUMBER_VALUE)],
    ),
    Case(
        "rds-enhanced-monitoring",
        RDS_INSTANCE,
        changed(INSTANCE, monitoringInterval=15.0),
        [INSTANCE],
        config={"maxIntervalSeconds": 15},
    ),
    Case(
        "rds-deletion-protection",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, deletionProtection=False)],
        [changed(INSTANCE, deletionProtection=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case("rds-deletion-protection", RDS_CLUSTER, MULTI_AZ_CLUSTER, [changed(MULTI_AZ_CLUSTER, deletionProtection=...)]),
    Case(
        "rds-logs-to-cloudwatch",
        RDS_INSTANCE,
        INSTANCE,
        [
            changed(INSTANCE, enabledCloudwatchLogsExports=["upgrade"]),
            changed(INSTANCE, enabledCloudwatchLogsExports=...),
        ],
        [
            changed(INSTANCE, enabledCloudwatchLogsExports=UNKNOWN_ARRAY_VALUE),
            changed(INSTANCE, engine=UNKNOWN_STRING_VALUE, enabledCloudwatchLogsExports=[]),
        ],
    ),
    Case(
        "rds-iam-authentication",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, iamDatabaseAuthenticationEnabled=...)],
        [changed(INSTANCE, iamDatabaseAuthenticationEnabled=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "rds-backup-retention",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, backupRetentionPeriod=1.0), changed(INSTANCE, backupRetentionPeriod=...)],
        [changed(INSTANCE, backupRetentionPeriod=UNKNOWN_NUMBER_VALUE)],
    ),
    Case(
        "rds-backup-retention",
        RDS_INSTANCE,
        changed(INSTANCE, backupRetentionPeriod=1.0),
        [changed(INSTANCE, backupRetentionPeriod=0.0)],
        config={"minRetentionDays": 1},
    ),
    Case(
        "rds-auto-minor-version-upgrade",
        RDS_INSTANCE,
        changed(INSTANCE, autoMinorVersionUpgrade=...),
        [changed(INSTANCE, autoMinorVersionUpgrade=False)],
        [changed(INSTANCE, autoMinorVersionUpgrade=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "rds-copy-tags-to-snapshot",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, copyTagsToSnapshot=...)],
        [changed(INSTANCE, copyTagsToSnapshot=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "rds-in-vpc-subnet-group",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, dbSubnetGroupName=...), changed(INSTANCE, dbSubnetGroupName="default")],
        [changed(INSTANCE, dbSubnetGroupName=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "rds-non-default-port",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, port=5432.0), changed(INSTANCE, port=...)],
        [changed(INSTANCE, port=UNKNOWN_NUMBER_VALUE)],
    ),
    Case(
        "rds-custom-admin-username",
        RDS_INSTANCE,
        INSTANCE,
        [changed(INSTANCE, username="postgres")],
        [changed(INSTANCE, username=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "rds-custom-admin-username", RDS_CLUSTER, MULTI_AZ_CLUSTER, [changed(MULTI_AZ_CLUSTER, masterUsername="admin")]
    ),
    Case(
        "rds-postgres-force-ssl",
        "aws:rds/parameterGroup:ParameterGroup",
        PG_PARAMETERS,
        [
            changed(PG_PARAMETERS, parameters=[{"name": "rds.force_ssl", "value": "0"}]),
            changed(PG_PARAMETERS, parameters=[{"name": "log_min_duration_statement", "value": "500"}]),
        ],
        [
            changed(PG_PARAMETERS, parameters=UNKNOWN_ARRAY_VALUE),
            changed(PG_PARAMETERS, parameters=[{"name": "rds.force_ssl", "value": UNKNOWN_STRING_VALUE}]),
        ],
    ),
    Case("rds-postgres-force-ssl", RDS_INSTANCE, INSTANCE, [changed(INSTANCE, parameterGroupName=...)]),
    Case(
        "rds-postgres-force-ssl",
        RDS_CLUSTER,
        MULTI_AZ_CLUSTER,
        [changed(MULTI_AZ_CLUSTER, dbClusterParameterGroupName=...)],
    ),
    Case(
        "rds-proxy-requires-tls",
        "aws:rds/proxy:Proxy",
        {"engineFamily": "POSTGRESQL", "requireTls": True},
        [{"engineFamily": "POSTGRESQL"}, {"engineFamily": "POSTGRESQL", "requireTls": False}],
        [{"engineFamily": "POSTGRESQL", "requireTls": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "rds-event-subscription-enabled",
        "aws:rds/eventSubscription:EventSubscription",
        {"snsTopic": TOPIC_ARN, "sourceType": "db-instance"},
        [{"snsTopic": TOPIC_ARN, "enabled": False}, {"sourceType": "db-instance"}],
        [{"snsTopic": UNKNOWN_STRING_VALUE, "enabled": UNKNOWN_BOOLEAN_VALUE}],
    ),
    # ElastiCache
    Case(
        "elasticache-automatic-backups",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, snapshotRetentionLimit=...), changed(CACHE, snapshotRetentionLimit=0.0)],
        [changed(CACHE, snapshotRetentionLimit=UNKNOWN_NUMBER_VALUE)],
    ),
    Case(
        "elasticache-automatic-backups",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, snapshotRetentionLimit=3.0)],
        config={"minRetentionDays": 7},
    ),
    Case(
        "elasticache-automatic-backups",
        "aws:elasticache/cluster:Cluster",
        {"engine": "memcached"},
        [{"engine": "redis", "snapshotRetentionLimit": 0.0}],
    ),
    Case(
        "elasticache-auto-minor-version-upgrade",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, autoMinorVersionUpgrade=False)],
        [changed(CACHE, autoMinorVersionUpgrade=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "elasticache-automatic-failover",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, automaticFailoverEnabled=...), changed(CACHE, multiAzEnabled=False)],
        [changed(CACHE, automaticFailoverEnabled=UNKNOWN_BOOLEAN_VALUE, multiAzEnabled=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "elasticache-encrypted-at-rest",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, atRestEncryptionEnabled=...), changed(CACHE, kmsKeyId=...)],
        [changed(CACHE, atRestEncryptionEnabled=UNKNOWN_BOOLEAN_VALUE, kmsKeyId=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "elasticache-encrypted-in-transit",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, transitEncryptionEnabled=...), changed(CACHE, transitEncryptionMode="preferred")],
        [changed(CACHE, transitEncryptionEnabled=UNKNOWN_BOOLEAN_VALUE, transitEncryptionMode=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "elasticache-authentication",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, userGroupIds=...), changed(CACHE, userGroupIds=[])],
        [changed(CACHE, userGroupIds=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "elasticache-authentication",
        REPLICATION_GROUP,
        changed(CACHE, userGroupIds=..., authToken="secret"),
        [changed(CACHE, userGroupIds=...)],
    ),
    Case(
        "elasticache-not-default-subnet-group",
        REPLICATION_GROUP,
        CACHE,
        [changed(CACHE, subnetGroupName=...), changed(CACHE, subnetGroupName="default")],
        [changed(CACHE, subnetGroupName=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "elasticache-user-requires-authentication",
        "aws:elasticache/user:User",
        {
            "userId": "app",
            "userName": "app",
            "engine": "valkey",
            "accessString": "on ~app:* +@read",
            "authenticationMode": {"type": "iam"},
        },
        [
            {"userId": "app", "userName": "app", "noPasswordRequired": True},
            {"userId": "app", "userName": "app", "authenticationMode": {"type": "no-password-required"}},
        ],
        [
            {
                "userId": "app",
                "userName": "app",
                "authenticationMode": UNKNOWN_OBJECT_VALUE,
                "noPasswordRequired": UNKNOWN_BOOLEAN_VALUE,
            }
        ],
    ),
    # S3
    Case(
        "s3-public-access-block-all-on",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {
            "bucket": "b",
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
        [
            {
                "bucket": "b",
                "blockPublicAcls": True,
                "blockPublicPolicy": False,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            {"bucket": "b"},
        ],
        [
            {
                "bucket": "b",
                "blockPublicAcls": UNKNOWN_BOOLEAN_VALUE,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            }
        ],
    ),
    Case(
        "s3-public-access-block-all-on",
        "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
        [{"blockPublicAcls": True}],
    ),
    Case(
        "s3-bucket-policy-requires-tls",
        "aws:s3/bucketPolicy:BucketPolicy",
        {"bucket": "b", "policy": policy_json(DENY_PLAINTEXT)},
        [
            {"bucket": "b", "policy": policy_json(changed(DENY_PLAINTEXT, Condition=...))},
            {"bucket": "b", "policy": "{"},
        ],
        [{"bucket": "b", "policy": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "s3-bucket-policy-not-public",
        "aws:s3/bucketPolicy:BucketPolicy",
        {"bucket": "b", "policy": policy_json(DENY_PLAINTEXT, changed(PUBLISH_FROM_CLOUDWATCH, Action="s3:PutObject"))},
        [
            {"bucket": "b", "policy": policy_json(PUBLIC_READ)},
            {
                "bucket": "b",
                "policy": policy_json(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                        "Action": "s3:PutBucketPolicy",
                        "Resource": "arn:aws:s3:::b",
                    }
                ),
            },
        ],
        [{"bucket": "b", "policy": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "s3-bucket-policy-not-public",
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "bucket": "b",
            "policy": policy_json(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                    "Action": "s3:*",
                    "Resource": "arn:aws:s3:::b",
                }
            ),
        },
        [
            {
                "bucket": "b",
                "policy": policy_json(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::888888888888:root"},
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::b",
                    }
                ),
            }
        ],
        config={"trustedAccountIds": ["999999999999"]},
    ),
    Case(
        "s3-bucket-encrypted-with-kms",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        {
            "bucket": "b",
            "rules": [
                {
                    "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
                    "bucketKeyEnabled": True,
                }
            ],
        },
        [
            {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
            {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
            {"bucket": "b", "rules": [{"bucketKeyEnabled": True}]},
        ],
        [
            {"bucket": "b", "rules": UNKNOWN_ARRAY_VALUE},
            {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": UNKNOWN_STRING_VALUE}}]},
        ],
    ),
    Case(
        "s3-bucket-versioning-enabled",
        "aws:s3/bucketVersioning:BucketVersioning",
        {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}},
        [{"bucket": "b", "versioningConfiguration": {"status": "Suspended"}}],
        [{"bucket": "b", "versioningConfiguration": UNKNOWN_OBJECT_VALUE}],
    ),
    Case(
        "s3-acls-disabled",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        {"bucket": "b", "rule": {"objectOwnership": "BucketOwnerEnforced"}},
        [{"bucket": "b", "rule": {"objectOwnership": "ObjectWriter"}}],
        [{"bucket": "b", "rule": {"objectOwnership": UNKNOWN_STRING_VALUE}}],
    ),
    Case(
        "s3-acls-disabled",
        "aws:s3/bucket:Bucket",
        {"bucket": "b", "objectLockEnabled": True},
        [{"bucket": "b", "acl": "public-read"}],
        [{"bucket": "b", "grants": UNKNOWN_ARRAY_VALUE}],
    ),
    Case(
        "s3-lifecycle-rule-enabled",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        {
            "bucket": "b",
            "rules": [
                {"id": "old-versions", "status": "Enabled", "noncurrentVersionExpiration": {"noncurrentDays": 30.0}}
            ],
        },
        [{"bucket": "b", "rules": [{"id": "old-versions", "status": "Disabled"}]}],
        [{"bucket": "b", "rules": [{"id": "x", "status": UNKNOWN_STRING_VALUE}]}],
    ),
    Case(
        "s3-access-logging-target",
        "aws:s3/bucketLogging:BucketLogging",
        {"bucket": "backups", "targetBucket": "access-logs", "targetPrefix": "backups/"},
        [{"bucket": "backups", "targetBucket": "backups"}],
        [{"bucket": UNKNOWN_STRING_VALUE, "targetBucket": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "s3-access-point-blocks-public",
        "aws:s3/accessPoint:AccessPoint",
        {"bucket": "b", "name": "ap"},
        [{"bucket": "b", "publicAccessBlockConfiguration": {"blockPublicPolicy": False}}],
        [{"bucket": "b", "publicAccessBlockConfiguration": UNKNOWN_OBJECT_VALUE}],
    ),
    Case(
        "s3-access-point-blocks-public",
        "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint",
        {"details": {"name": "mrap", "regions": [{"bucket": "b"}]}},
        [{"details": {"name": "mrap", "publicAccessBlock": {"restrictPublicBuckets": False}}}],
    ),
    Case(
        "s3-replication-rule-enabled",
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        {
            "bucket": "b",
            "role": ROLE_ARN,
            "rules": [{"id": "dr", "status": "Enabled", "destination": {"bucket": "arn:aws:s3:::b-dr"}}],
        },
        [{"bucket": "b", "role": ROLE_ARN, "rules": [{"id": "dr", "status": "Disabled"}]}],
        [{"bucket": "b", "role": ROLE_ARN, "rules": UNKNOWN_ARRAY_VALUE}],
    ),
    # EC2 / VPC
    Case(
        "ec2-subnet-no-auto-public-ip",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc", "mapPublicIpOnLaunch": False},
        [{"vpcId": "vpc", "mapPublicIpOnLaunch": True}],
        [{"vpcId": "vpc", "mapPublicIpOnLaunch": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "ec2-default-security-group-no-rules",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        {"vpcId": "vpc", "ingress": [], "egress": []},
        [
            {"vpcId": "vpc", "ingress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "self": True}]},
            {
                "vpcId": "vpc",
                "egress": [{"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}],
            },
        ],
        [{"vpcId": "vpc", "ingress": UNKNOWN_ARRAY_VALUE, "egress": UNKNOWN_ARRAY_VALUE}],
    ),
    Case(
        "ec2-nacl-no-world-admin-ports",
        "aws:ec2/networkAcl:NetworkAcl",
        {"vpcId": "vpc", "ingress": RETURN_TRAFFIC},
        [
            {"vpcId": "vpc", "ingress": [WORLD_TCP]},
            {"vpcId": "vpc", "ingress": [changed(WORLD_TCP, protocol="-1", fromPort=0.0, toPort=0.0)]},
            {
                "vpcId": "vpc",
                "ingress": [changed(WORLD_TCP, cidrBlock=..., ipv6CidrBlock="::/0", fromPort=22.0, toPort=22.0)],
            },
        ],
        [
            {"vpcId": "vpc", "ingress": UNKNOWN_ARRAY_VALUE},
            {"vpcId": "vpc", "ingress": [changed(WORLD_TCP, fromPort=UNKNOWN_NUMBER_VALUE)]},
        ],
    ),
    Case(
        "ec2-nacl-no-world-admin-ports",
        "aws:ec2/networkAclRule:NetworkAclRule",
        {
            "networkAclId": "acl",
            "ruleNumber": 300.0,
            "egress": False,
            "protocol": "tcp",
            "ruleAction": "allow",
            "cidrBlock": "10.20.0.0/16",
            "fromPort": 22.0,
            "toPort": 22.0,
        },
        [
            {
                "networkAclId": "acl",
                "ruleNumber": 300.0,
                "egress": False,
                "protocol": "tcp",
                "ruleAction": "allow",
                "cidrBlock": "0.0.0.0/0",
                "fromPort": 3389.0,
                "toPort": 3389.0,
            }
        ],
        [
            {
                "networkAclId": "acl",
                "ruleNumber": 300.0,
                "egress": False,
                "protocol": "tcp",
                "ruleAction": "allow",
                "cidrBlock": UNKNOWN_STRING_VALUE,
                "fromPort": 22.0,
                "toPort": 22.0,
            }
        ],
    ),
    Case(
        "ec2-flow-log-all-traffic",
        "aws:ec2/flowLog:FlowLog",
        {"vpcId": "vpc", "trafficType": "ALL"},
        [{"vpcId": "vpc", "trafficType": "REJECT"}],
        [{"vpcId": "vpc", "trafficType": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "ec2-interface-endpoint-private",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        {
            "vpcId": "vpc",
            "vpcEndpointType": "Interface",
            "serviceName": "com.amazonaws.us-east-1.kms",
            "privateDnsEnabled": True,
            "securityGroupIds": ["sg-endpoints"],
        },
        [
            {
                "vpcId": "vpc",
                "vpcEndpointType": "Interface",
                "serviceName": "com.amazonaws.us-east-1.kms",
                "securityGroupIds": ["sg-endpoints"],
            },
            {"vpcId": "vpc", "vpcEndpointType": "Interface", "privateDnsEnabled": True, "securityGroupIds": []},
        ],
        [
            {
                "vpcId": "vpc",
                "vpcEndpointType": "Interface",
                "privateDnsEnabled": UNKNOWN_BOOLEAN_VALUE,
                "securityGroupIds": UNKNOWN_ARRAY_VALUE,
            }
        ],
    ),
    Case(
        "ec2-imdsv2-required",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [changed(TEMPLATE, metadataOptions=...), changed(TEMPLATE, metadataOptions={"httpTokens": "optional"})],
        [changed(TEMPLATE, metadataOptions={"httpTokens": UNKNOWN_STRING_VALUE})],
    ),
    Case("ec2-imdsv2-required", EC2_INSTANCE, HOST, [changed(HOST, metadataOptions=...)]),
    Case(
        "ec2-no-public-ip",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [changed(TEMPLATE, networkInterfaces=[{"associatePublicIpAddress": "true", "deviceIndex": 0.0}])],
        [changed(TEMPLATE, networkInterfaces=[{"associatePublicIpAddress": UNKNOWN_STRING_VALUE}])],
    ),
    Case(
        "ec2-no-public-ip",
        EC2_INSTANCE,
        HOST,
        [changed(HOST, associatePublicIpAddress=True)],
        [changed(HOST, associatePublicIpAddress=UNKNOWN_BOOLEAN_VALUE)],
    ),
    Case(
        "ec2-ebs-encrypted",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [
            changed(TEMPLATE, blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]),
            changed(TEMPLATE, blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 100.0}}]),
        ],
        [changed(TEMPLATE, blockDeviceMappings=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "ec2-ebs-encrypted",
        EC2_INSTANCE,
        HOST,
        [changed(HOST, rootBlockDevice=...), changed(HOST, ebsBlockDevices=[{"deviceName": "/dev/sdf"}])],
        [changed(HOST, rootBlockDevice={"encrypted": UNKNOWN_BOOLEAN_VALUE}, ebsBlockDevices=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "ec2-ebs-encrypted",
        "aws:ebs/volume:Volume",
        {"availabilityZone": "us-east-1a", "encrypted": True},
        [{"availabilityZone": "us-east-1a"}],
        [{"availabilityZone": "us-east-1a", "encrypted": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "ec2-ebs-encrypted",
        "aws:ebs/encryptionByDefault:EncryptionByDefault",
        {"enabled": True},
        [{"enabled": False}],
        [{"enabled": UNKNOWN_BOOLEAN_VALUE}],
    ),
    Case(
        "ec2-single-network-interface",
        LAUNCH_TEMPLATE,
        TEMPLATE,
        [changed(TEMPLATE, networkInterfaces=[{"deviceIndex": 0.0}, {"deviceIndex": 1.0}])],
        [changed(TEMPLATE, networkInterfaces=UNKNOWN_ARRAY_VALUE)],
    ),
    Case(
        "ec2-vpc-block-public-access",
        "aws:ec2/vpcBlockPublicAccessOptions:VpcBlockPublicAccessOptions",
        {"internetGatewayBlockMode": "block-ingress"},
        [{"internetGatewayBlockMode": "off"}],
        [{"internetGatewayBlockMode": UNKNOWN_STRING_VALUE}],
    ),
    # KMS
    Case(
        "kms-key-rotation-enabled",
        "aws:kms/key:Key",
        KEY,
        [changed(KEY, enableKeyRotation=...), changed(KEY, rotationPeriodInDays=730.0)],
        [
            changed(KEY, enableKeyRotation=UNKNOWN_BOOLEAN_VALUE),
            changed(KEY, rotationPeriodInDays=UNKNOWN_NUMBER_VALUE),
        ],
    ),
    Case(
        "kms-key-rotation-enabled",
        "aws:kms/key:Key",
        changed(KEY, enableKeyRotation=..., customerMasterKeySpec="RSA_2048", keyUsage="SIGN_VERIFY"),
        [changed(KEY, rotationPeriodInDays=365.0)],
        config={"maxRotationPeriodDays": 180},
    ),
    Case(
        "kms-key-deletion-window",
        "aws:kms/key:Key",
        KEY,
        [changed(KEY, deletionWindowInDays=7.0), changed(KEY, isEnabled=False)],
        [changed(KEY, deletionWindowInDays=UNKNOWN_NUMBER_VALUE)],
    ),
    Case(
        "kms-key-deletion-window",
        "aws:kms/key:Key",
        changed(KEY, deletionWindowInDays=7.0),
        [changed(KEY, deletionWindowInDays=6.0)],
        config={"minDeletionWindowDays": 7},
    ),
    Case(
        "kms-key-policy-not-public",
        "aws:kms/key:Key",
        KEY,
        [
            changed(KEY, policy=policy_json(ACCOUNT_ROOT, changed(VIA_SERVICE, Condition=...))),
            changed(
                KEY, policy=policy_json(changed(VIA_SERVICE, Condition={"StringLike": {"kms:CallerAccount": "*"}}))
            ),
        ],
        [changed(KEY, policy=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "kms-key-policy-not-public",
        "aws:kms/keyPolicy:KeyPolicy",
        {"keyId": "k", "policy": policy_json(ACCOUNT_ROOT)},
        [
            {
                "keyId": "k",
                "policy": policy_json({"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
            }
        ],
    ),
    Case(
        "iam-no-kms-decrypt-on-all-keys",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "role": "r",
            "policy": policy_json(DECRYPT_ONE_KEY, {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}),
        },
        [
            {"role": "r", "policy": policy_json(changed(DECRYPT_ONE_KEY, Resource="*"))},
            {
                "role": "r",
                "policy": policy_json(
                    {"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:us-east-1:123456789012:key/*"}
                ),
            },
        ],
        [{"role": "r", "policy": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "iam-no-kms-decrypt-on-all-keys",
        "aws:iam/role:Role",
        {"assumeRolePolicy": "{}", "inlinePolicies": [{"name": "p", "policy": policy_json(DECRYPT_ONE_KEY)}]},
        [
            {
                "assumeRolePolicy": "{}",
                "inlinePolicies": [
                    {"name": "p", "policy": policy_json(changed(DECRYPT_ONE_KEY, Action="kms:Decrypt*", Resource="*"))}
                ],
            }
        ],
        [{"assumeRolePolicy": "{}", "inlinePolicies": UNKNOWN_ARRAY_VALUE}],
    ),
    # Secrets Manager
    Case(
        "secretsmanager-secret-encrypted-with-cmk",
        "aws:secretsmanager/secret:Secret",
        {"name": "cache-auth", "kmsKeyId": KEY_ARN},
        [{"name": "cache-auth"}],
        [{"name": "cache-auth", "kmsKeyId": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "secretsmanager-rotation-schedule",
        "aws:secretsmanager/secretRotation:SecretRotation",
        {"secretId": "s", "rotationRules": {"automaticallyAfterDays": 30.0}},
        [
            {"secretId": "s", "rotationRules": {"automaticallyAfterDays": 180.0}},
            {"secretId": "s", "rotationEnabled": False, "rotationRules": {"automaticallyAfterDays": 30.0}},
        ],
        [{"secretId": "s", "rotationRules": {"automaticallyAfterDays": UNKNOWN_NUMBER_VALUE}}],
    ),
    # SNS
    Case(
        "sns-topic-encrypted",
        "aws:sns/topic:Topic",
        TOPIC,
        [changed(TOPIC, kmsMasterKeyId=...)],
        [changed(TOPIC, kmsMasterKeyId=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "sns-topic-policy-not-public",
        "aws:sns/topic:Topic",
        TOPIC,
        [changed(TOPIC, policy=policy_json(ANYONE_PUBLISHES))],
        [changed(TOPIC, policy=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "sns-topic-policy-not-public",
        "aws:sns/topicPolicy:TopicPolicy",
        {"arn": TOPIC_ARN, "policy": policy_json(PUBLISH_FROM_CLOUDWATCH)},
        [{"arn": TOPIC_ARN, "policy": policy_json(changed(PUBLISH_FROM_CLOUDWATCH, Principal="*", Condition=...))}],
    ),
    Case(
        "sns-delivery-status-logging",
        "aws:sns/topic:Topic",
        TOPIC,
        [changed(TOPIC, httpFailureFeedbackRoleArn=...)],
        [changed(TOPIC, httpFailureFeedbackRoleArn=UNKNOWN_STRING_VALUE)],
    ),
    # CloudWatch
    Case(
        "cloudwatch-alarm-has-actions",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        ALARM,
        [changed(ALARM, alarmActions=...), changed(ALARM, alarmActions=[]), changed(ALARM, actionsEnabled=False)],
        [
            changed(ALARM, alarmActions=UNKNOWN_ARRAY_VALUE, actionsEnabled=UNKNOWN_BOOLEAN_VALUE),
            changed(ALARM, alarmActions=[UNKNOWN_STRING_VALUE]),
        ],
    ),
    Case(
        "cloudwatch-alarm-has-actions",
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        {"alarmName": "db-down", "alarmRule": "ALARM(a)", "alarmActions": [TOPIC_ARN]},
        [{"alarmName": "db-down", "alarmRule": "ALARM(a)"}],
    ),
    Case(
        "cloudwatch-log-group-encrypted",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/cryb-db/postgres", "kmsKeyId": KEY_ARN, "retentionInDays": 365.0},
        [{"name": "/cryb-db/postgres", "retentionInDays": 365.0}],
        [{"name": "/cryb-db/postgres", "kmsKeyId": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "cloudwatch-log-group-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/cryb-db/postgres", "kmsKeyId": KEY_ARN, "retentionInDays": 731.0},
        [{"name": "/cryb-db/postgres", "retentionInDays": 30.0}],
        [{"name": "/cryb-db/postgres", "retentionInDays": UNKNOWN_NUMBER_VALUE}],
    ),
    Case(
        "cloudwatch-log-group-retention",
        "aws:cloudwatch/logGroup:LogGroup",
        {"name": "/cryb-db/postgres"},
        [{"name": "/cryb-db/postgres", "retentionInDays": 14.0}],
        config={"minRetentionDays": 30},
    ),
    # Lambda
    Case(
        "lambda-not-public",
        "aws:lambda/permission:Permission",
        {
            "function": "rotate",
            "action": "lambda:InvokeFunction",
            "principal": "secretsmanager.amazonaws.com",
            "sourceArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth",
        },
        [
            {"function": "rotate", "action": "lambda:InvokeFunction", "principal": "*"},
            {"function": "rotate", "action": "lambda:InvokeFunction", "principal": "s3.amazonaws.com"},
        ],
        [{"function": "rotate", "action": "lambda:InvokeFunction", "principal": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "lambda-not-public",
        "aws:lambda/functionUrl:FunctionUrl",
        {"functionName": "f", "authorizationType": "AWS_IAM"},
        [{"functionName": "f", "authorizationType": "NONE"}],
        [{"functionName": "f", "authorizationType": UNKNOWN_STRING_VALUE}],
    ),
    Case(
        "lambda-in-vpc",
        "aws:lambda/function:Function",
        FUNCTION,
        [changed(FUNCTION, vpcConfig=...), changed(FUNCTION, vpcConfig={"subnetIds": [], "securityGroupIds": []})],
        [changed(FUNCTION, vpcConfig={"subnetIds": UNKNOWN_ARRAY_VALUE})],
    ),
    Case(
        "lambda-active-tracing",
        "aws:lambda/function:Function",
        FUNCTION,
        [changed(FUNCTION, tracingConfig=...), changed(FUNCTION, tracingConfig={"mode": "PassThrough"})],
        [changed(FUNCTION, tracingConfig=UNKNOWN_OBJECT_VALUE)],
    ),
    # Tagging
    Case(
        "required-tags",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc", "tags": TAGS},
        [
            {"vpcId": "vpc"},
            {"vpcId": "vpc", "tags": changed(TAGS, owner=...)},
            {"vpcId": "vpc", "tags": changed(TAGS, environment="production")},
            {"vpcId": "vpc", "tags": changed(TAGS, service="")},
        ],
        [{"vpcId": "vpc", "tags": UNKNOWN_OBJECT_VALUE}],
    ),
    Case(
        "required-tags",
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc", "tags": {"Name": "a"}, "tagsAll": {**TAGS, "Name": "a"}},
        [{"vpcId": "vpc", "tags": {"Name": "a"}, "tagsAll": {"Name": "a"}}],
    ),
    Case(
        "required-tags",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        {"subnetId": "s", "routeTableId": "t"},
        [],
        [{"subnetId": UNKNOWN_STRING_VALUE, "routeTableId": "t"}],
    ),
    Case("required-tags", "aws:lambda/function:Function", FUNCTION, [changed(FUNCTION, tags=...)]),
    Case(
        "required-tags",
        "aws:autoscaling/group:Group",
        {"maxSize": 1, "tags": [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]},
        [
            {"maxSize": 1},
            {"maxSize": 1, "tags": [{"key": "owner", "value": "platform-team", "propagateAtLaunch": True}]},
            {
                "maxSize": 1,
                "tags": [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]
                + [{"key": "environment", "value": "production", "propagateAtLaunch": True}],
            },
        ],
    ),
    Case("required-tags", "cryb:network:Network", {}, []),
    # Project
    Case(
        "no-world-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {
            "securityGroupId": "sg",
            "ipProtocol": "tcp",
            "fromPort": 5433.0,
            "toPort": 5433.0,
            "referencedSecurityGroupId": "sg-app",
        },
        [
            {"securityGroupId": "sg", "ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"},
            {"securityGroupId": "sg", "ipProtocol": "-1", "cidrIpv6": "::/0"},
        ],
        [
            {
                "securityGroupId": "sg",
                "ipProtocol": "tcp",
                "fromPort": 443.0,
                "toPort": 443.0,
                "cidrIpv4": UNKNOWN_STRING_VALUE,
            }
        ],
    ),
    Case(
        "no-world-ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        {
            "vpcId": "vpc",
            "ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.20.0.0/16"]}],
            "egress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
        [
            {
                "vpcId": "vpc",
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["10.20.0.0/16", "0.0.0.0/0"]}
                ],
            }
        ],
        [
            {"vpcId": "vpc", "ingress": UNKNOWN_ARRAY_VALUE},
            {
                "vpcId": "vpc",
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": [UNKNOWN_STRING_VALUE]}
                ],
            },
        ],
    ),
    Case(
        "no-world-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {
            "type": "egress",
            "securityGroupId": "sg",
            "protocol": "tcp",
            "fromPort": 443.0,
            "toPort": 443.0,
            "cidrBlocks": ["0.0.0.0/0"],
        },
        [
            {
                "type": "ingress",
                "securityGroupId": "sg",
                "protocol": "tcp",
                "fromPort": 443.0,
                "toPort": 443.0,
                "cidrBlocks": ["0.0.0.0/0"],
            }
        ],
    ),
    Case(
        "timescaledb-self-hosted-only",
        "aws:rds/parameterGroup:ParameterGroup",
        changed(
            PG_PARAMETERS, parameters=[{"name": "shared_preload_libraries", "value": "pg_stat_statements,pg_cron"}]
        ),
        [
            changed(
                PG_PARAMETERS,
                parameters=[{"name": "shared_preload_libraries", "value": "pg_stat_statements,timescaledb"}],
            )
        ],
        [
            changed(PG_PARAMETERS, parameters=[{"name": "shared_preload_libraries", "value": UNKNOWN_STRING_VALUE}]),
            changed(PG_PARAMETERS, parameters=UNKNOWN_ARRAY_VALUE),
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_compliant_input_passes(case: Case) -> None:
    assert resource_violations(RULES[case.rule], case.type, case.good, case.config) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.bad], ids=str)
def test_violating_input_is_reported_with_what_to_change(case: Case) -> None:
    for props in case.bad:
        messages = resource_violations(RULES[case.rule], case.type, props, case.config)
        assert messages, f"{case.rule} missed {props}"
        assert all(":" in m and len(m) > 20 for m in messages), messages  # "<what is wrong>: <what to change>"


@pytest.mark.parametrize("case", [c for c in CASES if c.unknown], ids=str)
def test_unknown_values_are_not_violations(case: Case) -> None:
    for props in case.unknown:
        assert resource_violations(RULES[case.rule], case.type, props, case.config) == []


def test_resource_rules_ignore_other_types() -> None:
    for rule in RULES.values():
        if isinstance(rule, ResourceRule) and rule.resource_types is not None:
            assert resource_violations(rule, "aws:sqs/queue:Queue", {"name": "q", "tags": TAGS}) == []


# Stack rules: synthetic graphs. `depends` mimics the engine's property dependencies, used while values are unknown.

CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
AURORA = {"engine": "aurora-postgresql", "clusterIdentifier": "cryb-aurora", "id": "cryb-aurora"}


def test_rds_cluster_multi_az() -> None:
    rule = RULES["rds-cluster-multi-az"]
    member = {"clusterIdentifier": "cryb-aurora", "instanceClass": "db.r7g.large"}
    two = [Node(RDS_CLUSTER, "c", AURORA), Node(CLUSTER_INSTANCE, "w", member), Node(CLUSTER_INSTANCE, "r", member)]
    assert stack_violations(rule, two) == []
    assert [n for n, _ in stack_violations(rule, two[:2])] == ["c"]
    unknown = [
        two[0],
        Node(CLUSTER_INSTANCE, "w", member),
        Node(CLUSTER_INSTANCE, "r", {"clusterIdentifier": UNKNOWN_STRING_VALUE}),
    ]
    assert stack_violations(rule, unknown) == []
    multi_az_cluster = [Node(RDS_CLUSTER, "m", changed(MULTI_AZ_CLUSTER, clusterIdentifier="m"))]
    assert stack_violations(rule, multi_az_cluster) == []


def test_rds_event_subscriptions() -> None:
    rule = RULES["rds-event-subscriptions"]
    instance = Node(RDS_INSTANCE, "db", changed(INSTANCE, identifier="db"))
    params = Node("aws:rds/parameterGroup:ParameterGroup", "pg", PG_PARAMETERS)

    def subscription(name: str, source: str, categories: Any, **extra: Any) -> Node:
        props = {"snsTopic": TOPIC_ARN, "sourceType": source, "eventCategories": categories, **extra}
        return Node("aws:rds/eventSubscription:EventSubscription", name, props)

    complete = [
        instance,
        params,
        subscription("i", "db-instance", ["failure", "maintenance", "configuration change", "availability"]),
        subscription("p", "db-parameter-group", []),  # no categories = all
    ]
    assert stack_violations(rule, complete) == []
    missing = stack_violations(rule, [instance, params, subscription("i", "db-instance", ["failure"])])
    assert sorted(n for n, _ in missing) == ["db", "pg"]
    assert "configuration change" in missing[0][1] or "configuration change" in missing[1][1]
    disabled = [instance, subscription("i", "db-instance", [], enabled=False)]
    assert [n for n, _ in stack_violations(rule, disabled)] == ["db"]
    assert stack_violations(rule, [instance, subscription("i", UNKNOWN_STRING_VALUE, [])]) == []
    assert stack_violations(rule, []) == []


BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
EVERY_BUCKET_RULES = {
    "s3-every-bucket-blocks-public-access": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "s3-every-bucket-encrypted": SSE,
    "s3-every-bucket-versioned": "aws:s3/bucketVersioning:BucketVersioning",
    "s3-every-bucket-has-lifecycle": "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "s3-every-bucket-logs-access": "aws:s3/bucketLogging:BucketLogging",
    "s3-every-bucket-requires-tls": "aws:s3/bucketPolicy:BucketPolicy",
    "s3-every-bucket-owner-enforced": "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "s3-every-bucket-notifies-events": "aws:s3/bucketNotification:BucketNotification",
    "s3-every-bucket-replicated": "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
}


@pytest.mark.parametrize(("rule_name", "config_type"), EVERY_BUCKET_RULES.items())
def test_every_bucket_has_its_configuration(rule_name: str, config_type: str) -> None:
    rule = RULES[rule_name]
    bucket = Node(
        BUCKET, "backups", {"bucket": "cryb-backups", "id": "cryb-backups", "arn": "arn:aws:s3:::cryb-backups"}
    )
    other = Node(BUCKET, "other", {"bucket": "cryb-other", "id": "cryb-other", "arn": "arn:aws:s3:::cryb-other"})
    configured = Node(config_type, "cfg", {"bucket": "cryb-backups"})
    assert stack_violations(rule, [bucket, configured]) == []
    assert [n for n, _ in stack_violations(rule, [bucket, other, configured])] == ["other"]
    assert [n for n, _ in stack_violations(rule, [bucket])] == ["backups"]
    # in a real preview the bucket name may be unknown: the engine's dependency says which bucket it is
    by_dependency = Node(config_type, "cfg", {"bucket": UNKNOWN_STRING_VALUE}, depends={"bucket": ["backups"]})
    assert [n for n, _ in stack_violations(rule, [bucket, other, by_dependency])] == ["other"]
    unknown = Node(config_type, "cfg", {"bucket": UNKNOWN_STRING_VALUE})
    assert stack_violations(rule, [bucket, unknown]) == []


def test_log_and_replica_buckets_are_exempt_from_logging_and_replication() -> None:
    source = Node(BUCKET, "src", {"bucket": "src", "id": "src", "arn": "arn:aws:s3:::src"})
    logs = Node(BUCKET, "logs", {"bucket": "logs", "id": "logs", "arn": "arn:aws:s3:::logs"})
    replica = Node(BUCKET, "dr", {"bucket": "dr", "id": "dr", "arn": "arn:aws:s3:::dr"})
    logging = Node("aws:s3/bucketLogging:BucketLogging", "l", {"bucket": "src", "targetBucket": "logs"})
    replication = Node(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "r",
        {"bucket": "src", "rules": [{"status": "Enabled", "destination": {"bucket": "arn:aws:s3:::dr"}}]},
    )
    graph = [source, logs, replica, logging, replication]
    assert [n for n, _ in stack_violations(RULES["s3-every-bucket-logs-access"], graph)] == ["dr"]
    # Access logs stay in the Region they describe: the log bucket is not replicated.
    assert [n for n, _ in stack_violations(RULES["s3-every-bucket-replicated"], graph)] == []
    assert [n for n, _ in stack_violations(RULES["s3-every-bucket-replicated"], [source, logs])] == ["src", "logs"]


def test_object_lock_on_every_bucket_but_access_log_targets() -> None:
    rule = RULES["s3-bucket-object-lock"]
    locked = Node(BUCKET, "backups", {"bucket": "backups", "id": "backups", "objectLockEnabled": True})
    unlocked = Node(BUCKET, "scratch", {"bucket": "scratch", "id": "scratch"})
    logs = Node(BUCKET, "logs", {"bucket": "logs", "id": "logs"})
    logging = Node("aws:s3/bucketLogging:BucketLogging", "l", {"bucket": "backups", "targetBucket": "logs"})
    assert [n for n, _ in stack_violations(rule, [locked, unlocked, logs, logging])] == ["scratch"]
    # Without the logging resource the log bucket is an ordinary bucket and needs the lock too.
    assert [n for n, _ in stack_violations(rule, [locked, unlocked, logs])] == ["scratch", "logs"]
    # A real preview may not know the target's name yet: the engine's dependency tells.
    pending = Node(
        "aws:s3/bucketLogging:BucketLogging",
        "l",
        {"bucket": "backups", "targetBucket": UNKNOWN_STRING_VALUE},
        depends={"targetBucket": ["logs"]},
    )
    assert [n for n, _ in stack_violations(rule, [locked, logs, pending])] == []
    unlocked_unknown = Node(BUCKET, "later", {"bucket": "later", "objectLockEnabled": UNKNOWN_BOOLEAN_VALUE})
    assert stack_violations(rule, [unlocked_unknown]) == []


VPC = "aws:ec2/vpc:Vpc"


def test_every_vpc_has_flow_logs() -> None:
    rule = RULES["ec2-every-vpc-has-flow-logs"]
    vpc = Node(VPC, "vpc", {"cidrBlock": "10.20.0.0/16", "id": "vpc-1"})
    flow_log = Node("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": "vpc-1", "trafficType": "ALL"})
    assert stack_violations(rule, [vpc, flow_log]) == []
    assert [n for n, _ in stack_violations(rule, [vpc])] == ["vpc"]
    assert stack_violations(rule, [vpc, Node("aws:ec2/flowLog:FlowLog", "fl", {"vpcId": UNKNOWN_STRING_VALUE})]) == []


def test_vpc_interface_endpoints() -> None:
    rule = RULES["ec2-vpc-interface-endpoints"]
    vpc = Node(VPC, "vpc", {"cidrBlock": "10.20.0.0/16", "id": "vpc-1"})

    def endpoint(service: str, kind: str = "Interface") -> Node:
        props = {"vpcId": "vpc-1", "serviceName": f"com.amazonaws.us-east-1.{service}", "vpcEndpointType": kind}
        return Node("aws:ec2/vpcEndpoint:VpcEndpoint", service, props)

    services = ["secretsmanager", "kms", "logs", "monitoring", "sts"]
    assert stack_violations(rule, [vpc, *(endpoint(s) for s in services)]) == []
    found = stack_violations(rule, [vpc, endpoint("s3", "Gateway"), *(endpoint(s) for s in services[:3])])
    assert [n for n, _ in found] == ["vpc"] and "'monitoring', 'sts'" in found[0][1]
    assert stack_violations(rule, [vpc, endpoint("ssm")], {"requiredServices": ["ssm"]}) == []
    assert (
        stack_violations(
            rule,
            [
                vpc,
                Node("aws:ec2/vpcEndpoint:VpcEndpoint", "e", {"vpcId": "vpc-1", "serviceName": UNKNOWN_STRING_VALUE}),
            ],
        )
        == []
    )


def test_network_acl_in_use() -> None:
    rule = RULES["ec2-network-acl-in-use"]
    acl = Node("aws:ec2/networkAcl:NetworkAcl", "acl", {"vpcId": "vpc", "id": "acl-1"})
    assert [n for n, _ in stack_violations(rule, [acl])] == ["acl"]
    assert stack_violations(rule, [Node(acl.type, "acl", {"vpcId": "vpc", "subnetIds": ["s-1"]})]) == []
    association = Node(
        "aws:ec2/networkAclAssociation:NetworkAclAssociation", "a", {"networkAclId": "acl-1", "subnetId": "s-1"}
    )
    assert stack_violations(rule, [acl, association]) == []
    assert stack_violations(rule, [Node(acl.type, "acl", {"vpcId": "vpc", "subnetIds": UNKNOWN_ARRAY_VALUE})]) == []


def test_every_secret_rotates() -> None:
    rule = RULES["secretsmanager-every-secret-rotates"]
    secret = Node(
        "aws:secretsmanager/secret:Secret", "s", {"name": "cache-auth", "arn": "arn:secret:s", "id": "arn:secret:s"}
    )
    rotation = Node("aws:secretsmanager/secretRotation:SecretRotation", "r", {"secretId": "arn:secret:s"})
    assert stack_violations(rule, [secret, rotation]) == []
    assert [n for n, _ in stack_violations(rule, [secret])] == ["s"]


@pytest.mark.parametrize(
    ("reason", "flagged"),
    [("issued-by-third-party", False), ("encrypts-existing-backups", False), ("too-busy", True), ("", True)],
)
def test_only_a_listed_reason_exempts_a_secret_from_rotation(reason: str, flagged: bool) -> None:
    rule = RULES["secretsmanager-every-secret-rotates"]
    props = {"name": "webhooks", "arn": "arn:secret:w", "id": "arn:secret:w", "tags": {"rotation-exempt": reason}}
    found = stack_violations(rule, [Node("aws:secretsmanager/secret:Secret", "w", props)])
    assert bool(found) == flagged
    if flagged:
        assert "is not an accepted reason" in found[0][1]


SUBNET = "aws:ec2/subnet:Subnet"


def network(nat_on_data: bool = False) -> list[Node]:
    def subnet(name: str, tier: str) -> Node:
        return Node(SUBNET, name, {"vpcId": "vpc-1", "id": f"{name}-id", "tags": {**TAGS, "tier": tier}})

    nodes = [
        subnet("app-a", "app"),
        subnet("data-a", "data"),
        subnet("data-b", "data"),
        Node("aws:ec2/internetGateway:InternetGateway", "igw", {"vpcId": "vpc-1", "id": "igw-1"}),
        Node("aws:ec2/natGateway:NatGateway", "nat", {"subnetId": "public-a-id", "id": "nat-1"}),
        Node("aws:ec2/routeTable:RouteTable", "data-rt", {"vpcId": "vpc-1", "id": "data-rt-id"}),
        Node("aws:ec2/routeTable:RouteTable", "app-rt", {"vpcId": "vpc-1", "id": "app-rt-id"}),
        Node(
            "aws:ec2/route:Route",
            "app-default",
            {"routeTableId": "app-rt-id", "destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"},
        ),
        Node(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "data-a-rta",
            {"subnetId": "data-a-id", "routeTableId": "data-rt-id"},
        ),
        Node(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "data-b-rta",
            {"subnetId": "data-b-id", "routeTableId": "data-rt-id"},
        ),
        Node(
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            "app-a-rta",
            {"subnetId": "app-a-id", "routeTableId": "app-rt-id"},
        ),
        Node("aws:rds/subnetGroup:SubnetGroup", "db", {"subnetIds": ["data-a-id", "data-b-id"]}),
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": ["data-a-id", "data-b-id"]}),
    ]
    if nat_on_data:
        nodes.append(
            Node(
                "aws:ec2/route:Route",
                "data-default",
                {
                    "routeTableId": UNKNOWN_STRING_VALUE,
                    "destinationCidrBlock": "0.0.0.0/0",
                    "natGatewayId": UNKNOWN_STRING_VALUE,
                },
                depends={"routeTableId": ["data-rt"], "natGatewayId": ["nat"]},
            )
        )
    return nodes


def test_data_stores_in_data_subnets() -> None:
    rule = RULES["data-stores-in-data-subnets"]
    assert stack_violations(rule, network()) == []
    nat = stack_violations(rule, network(nat_on_data=True))
    assert sorted(n for n, _ in nat) == ["data-a", "data-b"] and "NAT gateway" in nat[0][1]
    igw_route = Node(
        "aws:ec2/route:Route",
        "data-igw",
        {"routeTableId": "data-rt-id", "gatewayId": "igw-1", "destinationCidrBlock": "0.0.0.0/0"},
    )
    assert "internet gateway" in stack_violations(rule, [*network(), igw_route])[0][1]
    mixed = [
        *network()[:-1],
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": ["data-a-id", "app-a-id"]}),
    ]
    assert [(n, "app-a" in m) for n, m in stack_violations(rule, mixed)] == [("cache", True)]
    foreign = [
        *network()[:-1],
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": ["subnet-0abc"]}),
    ]
    assert [n for n, _ in stack_violations(rule, foreign)] == ["cache"]
    tagged_host = Node(EC2_INSTANCE, "pg-node", changed(HOST, subnetId="app-a-id", tags={**TAGS, "tier": "data"}))
    untagged_host = Node(EC2_INSTANCE, "bastion", changed(HOST, subnetId="app-a-id"))
    assert [n for n, _ in stack_violations(rule, [*network(), tagged_host, untagged_host])] == ["pg-node"]
    unknown = [
        *network()[:-1],
        Node("aws:elasticache/subnetGroup:SubnetGroup", "cache", {"subnetIds": UNKNOWN_ARRAY_VALUE}),
    ]
    assert stack_violations(rule, unknown) == []


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


def test_every_rule_has_metadata_and_is_exercised_here() -> None:
    exercised = (
        {c.rule for c in CASES}
        | set(EVERY_BUCKET_RULES)
        | {
            "rds-cluster-multi-az",
            "rds-event-subscriptions",
            "ec2-every-vpc-has-flow-logs",
            "ec2-vpc-interface-endpoints",
            "ec2-network-acl-in-use",
            "secretsmanager-every-secret-rotates",
            "data-stores-in-data-subnets",
            "data-stores-have-alarms",
            "sns-topic-has-subscription",
            "kms-key-in-use",
            "s3-bucket-object-lock",
        }
    )
    assert set(RULES) - exercised == set(), "every rule needs a compliant and a violating test input"
    for rule in RULES.values():
        assert rule.controls and rule.description and rule.remediation, rule.name
        assert all(isinstance(schema.get("default"), (int, str, list, dict)) for schema in rule.config_schema.values())


def offline(value: Any) -> Any:
    """The offline harness records an unknown as None rather than the engine's sentinel."""
    sentinels = {
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
    if isinstance(value, dict):
        return {k: offline(v) for k, v in value.items()}
    if isinstance(value, list):
        return [offline(v) for v in value]
    return None if value in sentinels else value


@pytest.mark.parametrize("case", [c for c in CASES if c.unknown], ids=str)
def test_unknowns_recorded_offline_are_not_violations(case: Case) -> None:
    for props in case.unknown:
        assert resource_violations(RULES[case.rule], case.type, offline(props), case.config) == []
