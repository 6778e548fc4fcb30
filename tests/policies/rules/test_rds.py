"""`policies/rules/rds.py`, RDS instances, clusters, snapshots, proxies and parameter groups: each case's compliant
input passes, each violating one is reported with what to change, and unknown values are no violation
(helpers.case_tests); its stack rules on synthetic graphs."""

from typing import Any

from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import (
    INSTANCE,
    KEY_ARN,
    PG_PARAMETERS,
    RDS_INSTANCE,
    ROLE_ARN,
    RULES,
    TAGS,
    TOPIC_ARN,
    Case,
    Node,
    case_tests,
    changed,
    stack_violations,
)

RDS_CLUSTER = "aws:rds/cluster:Cluster"
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


# Stack rules: synthetic graphs. `depends` mimics the engine's property dependencies, used while values are unknown.

CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


AURORA = {"engine": "aurora-postgresql", "clusterIdentifier": "cryb-aurora", "id": "cryb-aurora"}


AUDIT_PARAMETERS = [
    {"name": "shared_preload_libraries", "value": "pg_stat_statements,auto_explain,pgaudit"},
    {"name": "pgaudit.log", "value": "ddl,role"},
    {"name": "log_connections", "value": "1"},
    {"name": "log_disconnections", "value": "1"},
]
AUDITED = {"family": "postgres17", "parameters": AUDIT_PARAMETERS, "tags": TAGS}

CASES = [
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
        "rds-postgres-audit-logging",
        "aws:rds/parameterGroup:ParameterGroup",
        AUDITED,
        [
            changed(AUDITED, parameters=AUDIT_PARAMETERS[1:]),  # pgaudit not preloaded
            changed(
                AUDITED,
                parameters=[*AUDIT_PARAMETERS[:1], {"name": "pgaudit.log", "value": "ddl"}, *AUDIT_PARAMETERS[2:]],
            ),
            changed(AUDITED, parameters=AUDIT_PARAMETERS[:3]),  # no log_disconnections
            changed(
                AUDITED,
                parameters=[*AUDIT_PARAMETERS[:2], {"name": "log_connections", "value": "0"}, *AUDIT_PARAMETERS[3:]],
            ),
        ],
        [
            changed(AUDITED, parameters=UNKNOWN_ARRAY_VALUE),
            changed(AUDITED, parameters=[{**p, "value": UNKNOWN_STRING_VALUE} for p in AUDIT_PARAMETERS]),
        ],
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
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


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
