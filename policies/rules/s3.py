"""S3: buckets and the separate configuration resources pulumi-aws 7 uses for each bucket setting.

A bucket's settings live in other resources (versioning, encryption, public access block...), so two kinds of
rule work together: resource rules check each configuration resource's content, and stack rules check that
every bucket has one of each.
"""

import re
from collections.abc import Callable, Iterator, Sequence

from pulumi_policy import Severity

from .base import Config, RuleSet, StackRule
from .documents import account_of, aws_principals, denies_insecure_transport, grants_action, parse, public_statements
from .documents import allows as statement_allows
from .documents import statements as policy_statements
from .graph import Stack
from .props import UNKNOWN, as_bool, as_list
from .resource import Resource

RULES = RuleSet()

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
LIFECYCLE = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
OWNERSHIP = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
NOTIFICATION = ("aws:s3/bucketNotification:BucketNotification",)
REPLICATION = ("aws:s3/bucketReplicationConfig:BucketReplicationConfig",)
ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
ACCESS_POINT = "aws:s3/accessPoint:AccessPoint"
MULTI_REGION_ACCESS_POINT = "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint"

BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
# Actions Security Hub S3.6 does not allow a bucket policy to grant to other accounts.
ACCOUNT_CONTROL_ACTIONS = (
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutEncryptionConfiguration",
    "s3:PutObjectAcl",
)


@RULES.resource(
    types=(*PUBLIC_ACCESS_BLOCK, ACCOUNT_PUBLIC_ACCESS_BLOCK),
    name="s3-public-access-block-all-on",
    description="Bucket- and account-level S3 Block Public Access have all four settings on.",
    controls=("S3.8", "S3.1"),
    severity=Severity.HIGH,
    remediation="Set block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets to True.",
)
def s3_public_access_block_all_on(resource: Resource, config: Config) -> Iterator[str]:
    off = [flag for flag in BLOCK_FLAGS if as_bool(resource.get(flag, default=False)) is False]
    if off:
        yield f"{', '.join(off)} not true: set all four Block Public Access settings to True."


@RULES.resource(
    types=POLICY,
    name="s3-bucket-policy-requires-tls",
    description="Bucket policies deny every request that does not use TLS.",
    controls=("S3.5",),
    severity=Severity.MEDIUM,
    remediation="Add a Deny statement for Principal '*', Action 's3:*' when aws:SecureTransport is 'false'.",
)
def s3_bucket_policy_requires_tls(resource: Resource, config: Config) -> Iterator[str]:
    document = parse(resource.get("policy"))
    if document is UNKNOWN:
        return
    if document is None or not denies_insecure_transport(document):
        yield "the policy has no Deny on aws:SecureTransport=false: add one so plaintext HTTP requests fail."


@RULES.resource(
    types=(*POLICY, *BUCKETS, ACCESS_POINT),
    name="s3-bucket-policy-not-public",
    description="Bucket and access point policies grant nothing to the world or account control to others.",
    controls=("S3.2", "S3.3", "S3.6"),
    severity=Severity.CRITICAL,
    remediation="Remove Allow statements for Principal '*' (or add an aws:SourceArn/aws:PrincipalOrgID condition) "
    "and grant other accounts data access only.",
    config_schema={"trustedAccountIds": {"type": "array", "items": {"type": "string"}, "default": []}},
)
def s3_bucket_policy_not_public(resource: Resource, config: Config) -> Iterator[str]:
    document = parse(resource.get("policy"))
    if document is UNKNOWN or document is None:
        return
    for statement in public_statements(document):
        yield f"statement {statement.get('Sid', '(no Sid)')!r} allows anyone: name principals or add a condition."
    trusted = set(config["trustedAccountIds"])
    for statement in policy_statements(document):
        if not statement_allows(statement):
            continue
        granted = [a for a in ACCOUNT_CONTROL_ACTIONS if grants_action(statement, a)]
        others = [p for p in aws_principals(statement) if p != "*" and account_of(p) not in trusted]
        if granted and others:
            yield (
                f"statement {statement.get('Sid', '(no Sid)')!r} lets {others} run {granted}: grant account "
                "control through IAM in the owning account only."
            )


@RULES.resource(
    types=ENCRYPTION,
    name="s3-bucket-encrypted-with-kms",
    description="Buckets encrypt objects by default with SSE-KMS and a customer-managed key.",
    controls=("S3.17",),
    severity=Severity.MEDIUM,
    remediation="Use rules=[{apply_server_side_encryption_by_default: {sse_algorithm: 'aws:kms', "
    "kms_master_key_id: <data key ARN>}, bucket_key_enabled: True}].",
)
def s3_bucket_encrypted_with_kms(resource: Resource, config: Config) -> Iterator[str]:
    rules = as_list(resource.get("rules", default=resource.get("rule")))
    if rules is UNKNOWN:
        return
    found = [r.get("applyServerSideEncryptionByDefault") for r in rules if isinstance(r, dict)]
    if UNKNOWN in found:
        return
    defaults = [d for d in found if isinstance(d, dict)]
    for default in defaults:
        algorithm = default.get("sseAlgorithm")
        if algorithm is UNKNOWN:
            continue
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            yield f"sseAlgorithm is {algorithm!r}: use 'aws:kms' with the stack's customer-managed key."
        elif "kmsMasterKeyId" not in default:
            yield "kmsMasterKeyId is not set (AWS-managed aws/s3 key): set it to the customer-managed key ARN."
    if not defaults:
        yield "no applyServerSideEncryptionByDefault: add a rule with sse_algorithm 'aws:kms'."


@RULES.resource(
    types=VERSIONING,
    name="s3-bucket-versioning-enabled",
    description="Bucket versioning is Enabled, so overwritten or deleted objects can be recovered.",
    controls=("S3.14",),
    severity=Severity.MEDIUM,
    remediation="Set versioning_configuration={'status': 'Enabled'}.",
)
def s3_bucket_versioning_enabled(resource: Resource, config: Config) -> Iterator[str]:
    status = resource.get("versioningConfiguration", "status")
    if status is not UNKNOWN and status != "Enabled":
        yield f"versioningConfiguration.status is {status!r}: set it to 'Enabled'."


@RULES.resource(
    types=(*OWNERSHIP, *ACLS, *BUCKETS),
    name="s3-acls-disabled",
    description="Access is granted by policies, not ACLs: object ownership is BucketOwnerEnforced.",
    controls=("S3.12",),
    severity=Severity.MEDIUM,
    remediation="Set BucketOwnershipControls rule.object_ownership='BucketOwnerEnforced'; remove BucketAcl "
    "resources and the bucket's acl/grants.",
)
def s3_acls_disabled(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type in OWNERSHIP:
        ownership = resource.get("rule", "objectOwnership")
        if ownership is not UNKNOWN and ownership != "BucketOwnerEnforced":
            yield f"objectOwnership is {ownership!r}: set it to 'BucketOwnerEnforced' (ACLs disabled)."
    elif resource.type in ACLS:
        yield "a bucket ACL resource grants access through ACLs: remove it and grant access in the bucket policy."
    else:
        acl = resource.get("acl")
        grants = as_list(resource.get("grants"))
        if (isinstance(acl, str) and acl != "private") or (grants is not UNKNOWN and grants):
            yield "the bucket sets acl/grants: remove them and grant access in the bucket policy."


@RULES.resource(
    types=LIFECYCLE,
    name="s3-lifecycle-rule-enabled",
    description="Lifecycle configurations have at least one enabled rule (expire old versions and uploads).",
    controls=("S3.13", "S3.10"),
    severity=Severity.LOW,
    remediation="Add an Enabled rule with noncurrent_version_expiration and abort_incomplete_multipart_upload.",
)
def s3_lifecycle_rule_enabled(resource: Resource, config: Config) -> Iterator[str]:
    rules = as_list(resource.get("rules"))
    if rules is UNKNOWN:
        return
    statuses = [r.get("status") for r in rules if isinstance(r, dict)]
    if UNKNOWN not in statuses and "Enabled" not in statuses:
        yield "no rule has status 'Enabled': enable at least one lifecycle rule."


@RULES.resource(
    types=LOGGING,
    name="s3-access-logging-target",
    description="Server access logs go to a separate log bucket.",
    controls=("S3.9",),
    severity=Severity.MEDIUM,
    remediation="Set target_bucket to the stack's access-log bucket (not the bucket itself).",
)
def s3_access_logging_target(resource: Resource, config: Config) -> Iterator[str]:
    target, source = resource.get("targetBucket"), resource.get("bucket")
    if isinstance(target, str) and target == source:
        yield "targetBucket is the bucket itself (each log write creates more logs): use a separate log bucket."


@RULES.resource(
    types=(ACCESS_POINT, MULTI_REGION_ACCESS_POINT),
    name="s3-access-point-blocks-public",
    description="Access points and Multi-Region Access Points keep Block Public Access on.",
    controls=("S3.19", "S3.24"),
    severity=Severity.CRITICAL,
    remediation="Leave public_access_block_configuration unset (all on) or set every flag to True.",
)
def s3_access_point_blocks_public(resource: Resource, config: Config) -> Iterator[str]:
    path = ("publicAccessBlockConfiguration",) if resource.type == ACCESS_POINT else ("details", "publicAccessBlock")
    off = [f for f in BLOCK_FLAGS if as_bool(resource.get(*path, f, default=True)) is False]  # AWS default: on
    if off:
        yield f"{', '.join(off)} set to false: set every Block Public Access flag to True."


@RULES.resource(
    types=REPLICATION,
    name="s3-replication-rule-enabled",
    description="Replication configurations have at least one enabled rule.",
    controls=("S3.7",),
    severity=Severity.LOW,
    remediation="Set status='Enabled' on the replication rule to the other-region bucket.",
)
def s3_replication_rule_enabled(resource: Resource, config: Config) -> Iterator[str]:
    rules = as_list(resource.get("rules"))
    if rules is UNKNOWN:
        return
    statuses = [r.get("status") for r in rules if isinstance(r, dict)]
    if UNKNOWN not in statuses and "Enabled" not in statuses:
        yield "no replication rule has status 'Enabled': enable the cross-Region rule."


Exemption = Callable[[Stack, Resource], bool]


def _log_target(stack: Stack, bucket: Resource) -> bool:
    """Access-log buckets receive logs; logging them too would need yet another bucket."""
    return bool(stack.referrers(bucket, LOGGING, keys=("targetBucket",)))


def _replica(stack: Stack, bucket: Resource) -> bool:
    """Replication destinations are the copy; they do not replicate again."""
    return bool(stack.referrers(bucket, REPLICATION, keys=("rules",)))


def _replica_or_log_target(stack: Stack, bucket: Resource) -> bool:
    """Access logs are kept in the Region they describe; each Region's bucket has its own log bucket."""
    return _replica(stack, bucket) or _log_target(stack, bucket)


def _object_lock(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for bucket in stack.of_type(*BUCKETS):
        # S3 does not deliver server access logs into a bucket with a default Object Lock retention.
        if _log_target(stack, bucket):
            continue
        if as_bool(bucket.get("objectLockEnabled", default=False)) is False:
            yield (
                bucket,
                "objectLockEnabled is not true: set object_lock_enabled=True (it can only be set at creation).",
            )


RULES.add(
    StackRule(
        name="s3-bucket-object-lock",
        description="Buckets are created with Object Lock, so backups cannot be deleted or overwritten early "
        "(access-log buckets excepted: S3 does not deliver logs into a bucket with a default retention).",
        controls=("S3.15",),
        severity=Severity.MEDIUM,
        remediation="Set object_lock_enabled=True on the bucket (creation-time only) and add a "
        "BucketObjectLockConfiguration with a default retention.",
        check=_object_lock,
    )
)


def every_bucket_has(
    *,
    name: str,
    config_types: Sequence[str],
    what: str,
    controls: Sequence[str],
    severity: Severity,
    remediation: str,
    exempt: Exemption | None = None,
) -> StackRule:
    """A stack rule: each bucket is the `bucket` of some resource of `config_types`; `what` reads "Every S3 bucket has
    <what>" (e.g. "a versioning configuration")."""
    missing = re.sub(r"^(a|an) ", "", what)

    def check(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
        for bucket in stack.of_type(*BUCKETS):
            if exempt is not None and exempt(stack, bucket):
                continue
            if stack.referrers(bucket, config_types, keys=("bucket",)):
                continue
            if stack.maybe_referrers(bucket, config_types, keys=("bucket",)):
                continue  # some configuration's bucket is still unknown: it may be this one
            yield bucket, f"this bucket has no {missing}: {remediation}"

    rule = StackRule(
        name=name,
        description=f"Every S3 bucket has {what}.",
        controls=tuple(controls),
        severity=severity,
        remediation=remediation,
        check=check,
    )
    RULES.add(rule)
    return rule


every_bucket_has(
    name="s3-every-bucket-blocks-public-access",
    config_types=PUBLIC_ACCESS_BLOCK,
    what="a BucketPublicAccessBlock",
    controls=("S3.8", "S3.2", "S3.3"),
    severity=Severity.HIGH,
    remediation="add aws.s3.BucketPublicAccessBlock(bucket=bucket.id) with all four flags True.",
)
every_bucket_has(
    name="s3-every-bucket-encrypted",
    config_types=ENCRYPTION,
    what="a server-side encryption configuration",
    controls=("S3.17",),
    severity=Severity.MEDIUM,
    remediation="add aws.s3.BucketServerSideEncryptionConfiguration with SSE-KMS and the customer-managed key.",
)
every_bucket_has(
    name="s3-every-bucket-versioned",
    config_types=VERSIONING,
    what="a versioning configuration",
    controls=("S3.14",),
    severity=Severity.MEDIUM,
    remediation="add aws.s3.BucketVersioning with versioning_configuration status 'Enabled'.",
)
every_bucket_has(
    name="s3-every-bucket-has-lifecycle",
    config_types=LIFECYCLE,
    what="a lifecycle configuration",
    controls=("S3.13", "S3.10"),
    severity=Severity.LOW,
    remediation="add aws.s3.BucketLifecycleConfiguration expiring noncurrent versions and incomplete uploads.",
)
every_bucket_has(
    name="s3-every-bucket-logs-access",
    config_types=LOGGING,
    what="server access logging",
    controls=("S3.9",),
    severity=Severity.MEDIUM,
    remediation="add aws.s3.BucketLogging with target_bucket set to the access-log bucket.",
    exempt=_log_target,
)
every_bucket_has(
    name="s3-every-bucket-requires-tls",
    config_types=POLICY,
    what="a bucket policy (which must deny non-TLS requests)",
    controls=("S3.5",),
    severity=Severity.MEDIUM,
    remediation="add aws.s3.BucketPolicy denying requests with aws:SecureTransport 'false'.",
)
every_bucket_has(
    name="s3-every-bucket-owner-enforced",
    config_types=OWNERSHIP,
    what="ownership controls",
    controls=("S3.12",),
    severity=Severity.MEDIUM,
    remediation="add aws.s3.BucketOwnershipControls with object_ownership 'BucketOwnerEnforced'.",
)
every_bucket_has(
    name="s3-every-bucket-notifies-events",
    config_types=NOTIFICATION,
    what="event notifications",
    controls=("S3.11",),
    severity=Severity.LOW,
    remediation="add aws.s3.BucketNotification (e.g. EventBridge) for object-created/removed events.",
)
every_bucket_has(
    name="s3-every-bucket-replicated",
    config_types=REPLICATION,
    what="cross-Region replication",
    controls=("S3.7",),
    severity=Severity.LOW,
    remediation="add aws.s3.BucketReplicationConfig to a versioned, KMS-encrypted bucket in another Region.",
    exempt=_replica_or_log_target,
)
