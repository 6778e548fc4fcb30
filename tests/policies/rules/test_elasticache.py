"""`policies/rules/elasticache.py`, ElastiCache replication groups and users: each case's compliant input passes, each
violating one is reported with what to change, and unknown values are no violation (helpers.case_tests)."""

from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from tests.policies.rules.helpers import CACHE, REPLICATION_GROUP, RULES, Case, case_tests, changed, resource_violations

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


# A Global Datastore secondary (the DR cache): encryption and engine come from the datastore, its key does not.
SECONDARY = {
    "replicationGroupId": "cryb-prod-cache-dr",
    "globalReplicationGroupId": "ldgnf-cryb-prod-cache-dr",
    "replicasPerNodeGroup": 1.0,
    "kmsKeyId": "arn:aws:kms:us-west-2:123456789012:key/dr-data",
    "userGroupIds": ["cryb-prod-cache-dr-users"],
}


def test_a_global_datastore_secondary_inherits_the_encryption_flags() -> None:
    for rule in ("elasticache-encrypted-at-rest", "elasticache-encrypted-in-transit"):
        assert resource_violations(RULES[rule], REPLICATION_GROUP, SECONDARY) == [], rule


def test_a_global_datastore_secondary_still_needs_its_own_key() -> None:
    without_key = {k: v for k, v in SECONDARY.items() if k != "kmsKeyId"}
    assert resource_violations(RULES["elasticache-encrypted-at-rest"], REPLICATION_GROUP, without_key) == [
        "kmsKeyId is not set, so the AWS-managed key is used: set kms_key_id to the `data` key ARN."
    ]


def test_a_group_without_the_flags_and_outside_a_datastore_is_still_reported() -> None:
    standalone = {k: v for k, v in SECONDARY.items() if k != "globalReplicationGroupId"}
    assert resource_violations(RULES["elasticache-encrypted-at-rest"], REPLICATION_GROUP, standalone) == [
        "atRestEncryptionEnabled is not true: set at_rest_encryption_enabled=True."
    ]
    assert resource_violations(RULES["elasticache-encrypted-in-transit"], REPLICATION_GROUP, standalone) == [
        "transitEncryptionEnabled is not true: set transit_encryption_enabled=True."
    ]
