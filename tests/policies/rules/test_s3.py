"""`policies/rules/s3.py`, S3 buckets, their configurations and policies, access points: each case's compliant input
passes, each violating one is reported with what to change, and unknown values are no violation (helpers.case_tests);
its stack rules on synthetic graphs."""

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from tests.policies.rules.helpers import (
    KEY_ARN,
    PUBLISH_FROM_CLOUDWATCH,
    ROLE_ARN,
    RULES,
    Case,
    Node,
    case_tests,
    changed,
    policy_json,
    stack_violations,
)

DENY_PLAINTEXT = {
    "Sid": "DenyPlaintext",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
PUBLIC_READ = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
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


CASES = [
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
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


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


def test_a_bucket_without_its_configuration_is_told_what_to_add() -> None:
    bucket = Node(BUCKET, "backups", {"bucket": "cryb-backups", "id": "cryb-backups"})
    [(_, blocks)] = stack_violations(RULES["s3-every-bucket-blocks-public-access"], [bucket])
    assert blocks == (
        "this bucket has no BucketPublicAccessBlock: add aws.s3.BucketPublicAccessBlock(bucket=bucket.id) with all "
        "four flags True."
    )
    [(_, versioned)] = stack_violations(RULES["s3-every-bucket-versioned"], [bucket])
    assert versioned.startswith("this bucket has no versioning configuration: ")


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
