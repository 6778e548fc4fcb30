"""`policies/rules/elasticache.py`, ElastiCache replication groups and users: each case's compliant input passes, each
violating one is reported with what to change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from tests.policies.rules.helpers import CACHE, REPLICATION_GROUP, Case, case_tests, changed

CASES = [
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
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)
