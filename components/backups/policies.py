"""Documents behind the backup resources, as pure functions: key, bucket and role policies, lifecycle rules and
AWS Backup plan rules. Returned dicts use the Pulumi Python input names (snake_case) where they feed a resource
argument, and IAM JSON where they are policy documents.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.security.iam_documents import service_trust

if TYPE_CHECKING:  # the provider's input shapes, so pyright checks these documents against the resources
    from pulumi import Input
    from pulumi_aws.backup import PlanRuleArgsDict, SelectionConditionArgsDict
    from pulumi_aws.s3 import BucketLifecycleConfigurationRuleArgsDict

# The tag the RDS shards carry so that AWS Backup and restore testing select them (docs/backups.md).
BACKUP_SELECTION_TAG = ("backup-plan", "cryb-db-rds")
# Noncurrent versions expire this many days after the Object Lock period: S3 cannot remove them earlier anyway,
# and the margin absorbs lifecycle's rounding to midnight UTC.
NONCURRENT_MARGIN_DAYS = 1
ACCESS_LOG_PREFIX = "s3-access"
# AWS-managed policies AWS documents for the AWS Backup service roles; AWS keeps them current with the services.
BACKUP_SERVICE_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
RESTORE_SERVICE_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"

KMS_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _account_root(account_id: str) -> dict[str, Any]:
    return {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def bucket_key_policy(account_id: str, region: str) -> dict[str, Any]:
    """CMK of a backup bucket: account principals may use it only through S3 in the key's region."""
    return _doc(
        _account_root(account_id),
        {
            "Sid": "AccountPrincipalsUseKeyOnlyThroughS3",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": KMS_USE,
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": f"s3.{region}.amazonaws.com"}
            },
        },
    )


def access_log_key_policy(account_id: str, region: str) -> dict[str, Any]:
    """CMK of an access-log bucket: as `bucket_key_policy`, plus the S3 logging service writing for this account.

    Log delivery is done by `logging.s3.amazonaws.com`, which must be able to create data keys itself.
    """
    policy = bucket_key_policy(account_id, region)
    policy["Statement"].append(
        {
            "Sid": "S3ServerAccessLogDeliveryEncrypts",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )
    return policy


def vault_key_policy(account_id: str, region: str) -> dict[str, Any]:
    """CMK of a backup vault: used through AWS Backup, and through RDS for the snapshot copies it makes."""
    via = [f"backup.{region}.amazonaws.com", f"rds.{region}.amazonaws.com"]
    return _doc(
        _account_root(account_id),
        {
            "Sid": "AccountPrincipalsUseKeyOnlyThroughBackupAndRds",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": KMS_USE,
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": via}},
        },
        {
            # AWS Backup and RDS hand the key to their own workers through grants, only for AWS resources.
            "Sid": "ServicesGrantOnlyForAwsResources",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": via},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        },
    )


def deny_insecure_transport(bucket_arn: str) -> list[dict[str, Any]]:
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyTlsOlderThan12",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


def backup_bucket_policy(bucket_arn: str, kms_key_arn: str) -> dict[str, Any]:
    """Deny plain HTTP (and TLS < 1.2), uploads that are not SSE-KMS, and uploads that do not name this key.

    StringNotEquals also matches when a header is absent, so every upload must send both SSE headers: without
    the key-id header S3 would encrypt with the AWS-managed aws/s3 key, not ours. Replication writes with
    s3:ReplicateObject, not PutObject, and is not affected.
    """
    objects = f"{bucket_arn}/*"
    return _doc(
        *deny_insecure_transport(bucket_arn),
        {
            "Sid": "DenyUploadsWithoutSseKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        },
        {
            "Sid": "DenyUploadsNotNamingThisKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn}},
        },
    )


def access_log_bucket_policy(log_bucket_arn: str, source_bucket_arns: Sequence[str], account_id: str) -> dict[str, Any]:
    """The S3 logging service may write only under the log prefix, only for our source buckets and account.

    With BucketOwnerEnforced ACLs are off, so this statement (not the log-delivery ACL) is what grants delivery.
    """
    return _doc(
        *deny_insecure_transport(log_bucket_arn),
        {
            "Sid": "S3ServerAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{log_bucket_arn}/{ACCESS_LOG_PREFIX}/*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": list(source_bucket_arns)},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
    )


def service_trust_policy(service: str, account_id: str, source_arn: str | None = None) -> dict[str, Any]:
    """Only `service` may assume the role, and only on behalf of this account (and source, if given)."""
    return service_trust(service, account_id, source_arn)


def writer_trust_policy(services: Sequence[str]) -> dict[str, Any]:
    """Backup agents run as instance or task roles of these services (no account condition: EC2 sends none)."""
    return _doc({"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"})


def replication_role_policy(
    *,
    source_bucket_arn: str,
    destination_bucket_arn: str,
    source_key_arn: str,
    destination_key_arn: str,
    source_region: str,
    destination_region: str,
) -> dict[str, Any]:
    """S3 replication: read versions (with their lock settings) from the source, write replicas, re-encrypt.

    No s3:ReplicateDelete: delete markers are not replicated, so deleting in the source never hides a replica.
    The KMS encryption context is the bucket ARN with S3 Bucket Keys and the object ARN without; allow both.
    """
    return _doc(
        {
            "Sid": "ReadReplicationConfiguration",
            "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            "Resource": source_bucket_arn,
        },
        {
            "Sid": "ReadSourceVersions",
            "Effect": "Allow",
            "Action": [
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
                "s3:GetObjectRetention",
                "s3:GetObjectLegalHold",
            ],
            "Resource": f"{source_bucket_arn}/*",
        },
        {
            "Sid": "WriteReplicas",
            "Effect": "Allow",
            "Action": ["s3:ReplicateObject", "s3:ReplicateTags"],
            "Resource": f"{destination_bucket_arn}/*",
        },
        {
            "Sid": "DecryptSourceObjects",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": source_key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{source_region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [source_bucket_arn, f"{source_bucket_arn}/*"]},
            },
        },
        {
            "Sid": "EncryptReplicasWithDestinationKey",
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": destination_key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{destination_region}.amazonaws.com"},
                "StringLike": {
                    "kms:EncryptionContext:aws:s3:arn": [destination_bucket_arn, f"{destination_bucket_arn}/*"]
                },
            },
        },
    )


# What a backup writer must never do, even if someone attaches a broader policy to its role later.
WRITER_DENIED_ACTIONS = [
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutReplicationConfiguration",
    "s3:DeleteBucket",
]


def writer_role_policy(*, bucket_arn: str, prefix: str, kms_key_arn: str, region: str) -> dict[str, Any]:
    """A backup agent (pgBackRest, WAL-G) reads and writes only under `<prefix>/`.

    It may create delete markers (its own expiry), never delete versions: Object Lock keeps every version for the
    lock period and lifecycle removes noncurrent versions after it.
    """
    if not prefix or "/" in prefix or "*" in prefix:
        raise ValueError(f"prefix={prefix!r}: must be a non-empty name without '/' or '*'")
    own = f"{bucket_arn}/{prefix}/*"
    return _doc(
        {
            "Sid": "ListOwnPrefixOnly",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/", f"{prefix}/*"]}},
        },
        {
            "Sid": "ReadWriteOwnPrefix",
            "Effect": "Allow",
            "Action": [
                "s3:PutObject",
                "s3:GetObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": own,
        },
        {
            "Sid": "UseBucketKeyThroughS3",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": kms_key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, own]},
            },
        },
        {
            "Sid": "DenyWritesOutsideOwnPrefix",
            "Effect": "Deny",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "NotResource": own,
        },
        {
            "Sid": "DenyDestroyingBackups",
            "Effect": "Deny",
            "Action": WRITER_DENIED_ACTIONS,
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
        },
    )


@dataclass(frozen=True)
class LifecycleSettings:
    """Numbers of the backup buckets' lifecycle (from `cryb-db:backups`)."""

    object_lock_days: int
    infrequent_access_after_days: int
    cold_storage_after_days: int
    cold_storage_class: str
    abort_incomplete_uploads_after_days: int

    @property
    def noncurrent_expiration_days(self) -> int:
        # A version's noncurrent age never exceeds its total age, so this is always past its retention date.
        return self.object_lock_days + NONCURRENT_MARGIN_DAYS


def backup_lifecycle_rules(settings: LifecycleSettings) -> "list[BucketLifecycleConfigurationRuleArgsDict]":
    """Tier down to colder classes, expire noncurrent versions after the lock, clean up uploads and markers."""
    if settings.cold_storage_after_days < settings.infrequent_access_after_days + 30:
        raise ValueError("cold_storage_after_days must be at least infrequent_access_after_days + 30")
    return [
        {
            "id": "tier-down-to-colder-classes",
            "status": "Enabled",
            "filter": {},
            "transitions": [
                {"days": settings.infrequent_access_after_days, "storage_class": "STANDARD_IA"},
                {"days": settings.cold_storage_after_days, "storage_class": settings.cold_storage_class},
            ],
        },
        {
            "id": "expire-noncurrent-versions-after-lock",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": settings.noncurrent_expiration_days},
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": settings.abort_incomplete_uploads_after_days
            },
        },
        {
            # A delete marker with no versions left behind it is clutter that slows listings.
            "id": "remove-expired-delete-markers",
            "status": "Enabled",
            "filter": {},
            "expiration": {"expired_object_delete_marker": True},
        },
    ]


def access_log_lifecycle_rules(
    retention_days: int, abort_incomplete_uploads_after_days: int
) -> "list[BucketLifecycleConfigurationRuleArgsDict]":
    """Access logs are kept `retention_days`; overwritten or deleted copies go a day later."""
    return [
        {
            "id": "expire-access-logs",
            "status": "Enabled",
            "filter": {},
            "expiration": {"days": retention_days},
            "noncurrent_version_expiration": {"noncurrent_days": 1},
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": abort_incomplete_uploads_after_days},
        },
    ]


@dataclass(frozen=True)
class BackupRule:
    """One AWS Backup plan rule."""

    name: str
    schedule: str
    retention_days: int
    copy_to_dr: bool = True
    start_window_minutes: int = 60
    completion_window_minutes: int = 8 * 60


def backup_plan_rules(
    rules: Sequence[BackupRule],
    target_vault_name: "Input[str]",
    copy_vault_arn: "Input[str] | None",
    recovery_point_tags: Mapping[str, str],
) -> "list[PlanRuleArgsDict]":
    """Plan rules; with a DR vault, each rule marked `copy_to_dr` copies its recovery point there (same retention).

    Vault name and ARN may be Pulumi outputs: they are placed, never inspected.
    """
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rule names must be unique: {names}")
    out: list[PlanRuleArgsDict] = []
    for rule in rules:
        entry: PlanRuleArgsDict = {
            "rule_name": rule.name,
            "target_vault_name": target_vault_name,
            "schedule": rule.schedule,
            "start_window": rule.start_window_minutes,
            "completion_window": rule.completion_window_minutes,
            "lifecycle": {"delete_after": rule.retention_days},
            "recovery_point_tags": {**recovery_point_tags, "backup-rule": rule.name},
        }
        if copy_vault_arn is not None and rule.copy_to_dr:
            entry["copy_actions"] = [
                {"destination_vault_arn": copy_vault_arn, "lifecycle": {"delete_after": rule.retention_days}}
            ]
        out.append(entry)
    return out


def rds_selection_conditions(tag: tuple[str, str] = BACKUP_SELECTION_TAG) -> "list[SelectionConditionArgsDict]":
    """Backup selection conditions: AND-ed with the resource ARNs (ListOfTags would be OR-ed with them)."""
    return [{"string_equals": [{"key": f"aws:ResourceTag/{tag[0]}", "value": tag[1]}]}]


def rds_selection_resources(region: str, account_id: str) -> list[str]:
    """Only RDS DB instances of this account and region are candidates; the tag picks the shards among them."""
    return [f"arn:aws:rds:{region}:{account_id}:db:*"]


def rds_restore_overrides(
    db_subnet_group_name: str, security_group_ids: Sequence[str], instance_class: str | None
) -> dict[str, str]:
    """Restore testing metadata: put the test instance in the data subnets behind the postgres group, privately."""
    overrides = {
        "dbsubnetgroupname": db_subnet_group_name,
        "vpcsecuritygroupids": "[" + ",".join(f'"{sg}"' for sg in security_group_ids) + "]",
        "publiclyaccessible": "false",
        "multiaz": "false",
    }
    if instance_class:
        overrides["dbinstanceclass"] = instance_class
    return overrides


def restore_testing_name(name: str) -> str:
    """Restore testing plan/selection names allow only letters, digits and '_' (1-50)."""
    cleaned = "".join(c if c.isalnum() else "_" for c in name)
    return cleaned[:50]
