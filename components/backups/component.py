"""Backups and DR: immutable encrypted S3 backup buckets (replicated to a DR region in prod), AWS Backup for the RDS
shards with copies to a DR vault, and AWS Backup restore testing. Documents and numbers come from
`backup_policies`; this file only declares resources (docs/backups.md).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from components.backups.bucket_baseline import encrypt, lock_down
from components.backups.policies import (
    ACCESS_LOG_PREFIX,
    BACKUP_SELECTION_TAG,
    BACKUP_SERVICE_POLICY_ARN,
    RESTORE_SERVICE_POLICY_ARN,
    BackupRule,
    LifecycleSettings,
    access_log_bucket_policy,
    access_log_key_policy,
    access_log_lifecycle_rules,
    backup_bucket_policy,
    backup_lifecycle_rules,
    backup_plan_rules,
    bucket_key_policy,
    rds_restore_overrides,
    rds_selection_conditions,
    rds_selection_resources,
    restore_testing_name,
    service_trust_policy,
    vault_key_policy,
    writer_role_policy,
    writer_trust_policy,
)
from components.backups.replication import ReplicatedBucket, declare_replication


@dataclass(frozen=True)
class VaultLockSettings:
    """AWS Backup Vault Lock; with `changeable_for_days` it turns into compliance mode after that grace period."""

    min_retention_days: int
    max_retention_days: int
    changeable_for_days: int


@dataclass(frozen=True)
class RestoreTestingSettings:
    """AWS Backup restore testing of the RDS shards."""

    schedule: str
    start_window_hours: int
    selection_window_days: int
    validation_window_hours: int
    instance_class: str | None = None


class DrArgs(TypedDict):
    """The disaster-recovery region and the provider that creates resources there."""

    region: str
    """DR region; must differ from the primary region."""
    provider: pulumi.ProviderResource
    """An `aws.Provider` for `region`, created by the program (never by this component)."""


class BackupsArgs(TypedDict):
    """Inputs of Backups."""

    account_id: str
    """AWS account of the stack (key policies, trust conditions, selection ARNs)."""
    region: str
    """Primary region of the stack."""
    object_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"]
    """Default Object Lock mode of both backup buckets: COMPLIANCE in prod."""
    lifecycle: LifecycleSettings
    """Object Lock days, storage-class transitions and upload clean-up of the backup buckets."""
    access_log_retention_days: int
    """Days the S3 server access logs are kept."""
    writer_prefixes: Sequence[str]
    """One writer role per prefix; each may write only under `<prefix>/`."""
    replication_time_control: bool
    """Enable S3 Replication Time Control (15-minute SLA) and replication metrics."""
    kms_deletion_window_days: int
    """Deletion window of the component's CMKs (7-30)."""
    kms_rotation_period_days: int
    """Rotation period of the component's CMKs (90-2560)."""
    backup_rules: Sequence[BackupRule]
    """AWS Backup plan rules (daily, weekly, monthly)."""
    vault_lock: VaultLockSettings | None
    """Lock both vaults (prod), or None."""
    restore_testing: RestoreTestingSettings | None
    """Restore testing plan for the RDS shards, or None."""
    restore_db_subnet_group_name: pulumi.Input[str]
    """DB subnet group (data subnets) restore tests restore into."""
    restore_security_group_ids: Sequence[pulumi.Input[str]]
    """Security groups of restore-test instances (the postgres group)."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""
    dr: NotRequired[DrArgs | None]
    """DR region and provider: adds the replica bucket, its log bucket and the DR vault. Required in prod."""
    writer_trust_services: NotRequired[Sequence[str]]
    """Services whose roles run backup agents (default: EC2 instance profiles)."""
    selection_tag: NotRequired[tuple[str, str]]
    """Tag (key, value) that selects RDS instances for AWS Backup; default `backup-plan: cryb-db-rds`."""


@dataclass
class _Bucket:
    """A hardened bucket, its versioning (replication waits for it) and its CMK ARN."""

    label: str
    resource: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    kms_key_arn: pulumi.Output[str]

    @property
    def name(self) -> pulumi.Output[str]:
        return self.resource.bucket

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.resource.arn


class Backups(pulumi.ComponentResource):
    """Backup buckets (+ DR replica), AWS Backup vaults, plan, selection and restore testing."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    bucket_kms_key_arn: pulumi.Output[str]
    access_log_bucket_name: pulumi.Output[str]
    replica_bucket_name: pulumi.Output[str] | None
    replica_bucket_arn: pulumi.Output[str] | None
    replica_kms_key_arn: pulumi.Output[str] | None
    replica_access_log_bucket_name: pulumi.Output[str] | None
    replication_role_arn: pulumi.Output[str] | None
    writer_role_arns: dict[str, pulumi.Output[str]]
    vault_name: pulumi.Output[str]
    vault_arn: pulumi.Output[str]
    dr_vault_arn: pulumi.Output[str] | None
    plan_id: pulumi.Output[str]
    restore_testing_plan_name: pulumi.Output[str] | None
    selection_tag: tuple[str, str]

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:backups:Backups", name, None, opts)
        self._name, self._args, self._tags = name, args, dict(args["tags"])
        dr = args.get("dr")
        if dr is not None and dr["region"] == args["region"]:
            raise ValueError(f"dr.region = {dr['region']!r}: must differ from the primary region")
        self.selection_tag = args.get("selection_tag", BACKUP_SELECTION_TAG)
        here = pulumi.ResourceOptions(parent=self)
        there = pulumi.ResourceOptions(parent=self, provider=dr["provider"]) if dr else None

        # Buckets: primary (+ replica in the DR region), each logging to a log bucket in its own region.
        logs = self._log_bucket(f"{name}-access-logs", args["region"], here)
        primary = self._backup_bucket(f"{name}-bucket", args["region"], logs, here)
        self.bucket_name, self.bucket_arn = primary.name, primary.arn
        self.bucket_kms_key_arn = primary.kms_key_arn
        self.access_log_bucket_name = logs.name
        self.replica_bucket_name = self.replica_bucket_arn = self.replica_kms_key_arn = None
        self.replica_access_log_bucket_name = self.replication_role_arn = None
        if dr is not None and there is not None:
            replica_logs = self._log_bucket(f"{name}-replica-access-logs", dr["region"], there)
            replica = self._backup_bucket(f"{name}-replica", dr["region"], replica_logs, there)
            self.replica_bucket_name, self.replica_bucket_arn = replica.name, replica.arn
            self.replica_kms_key_arn, self.replica_access_log_bucket_name = replica.kms_key_arn, replica_logs.name
            self.replication_role_arn = self._replication(primary, replica, dr["region"], here)
        self.writer_role_arns = {prefix: self._writer(prefix, primary, here) for prefix in args["writer_prefixes"]}

        # AWS Backup: vault (+ DR vault), plan, selection by tag, restore testing.
        vault = self._vault(f"{name}-vault", args["region"], here)
        self.vault_name, self.vault_arn = vault.name, vault.arn
        dr_vault = self._vault(f"{name}-dr-vault", dr["region"], there) if dr and there else None
        self.dr_vault_arn = dr_vault.arn if dr_vault else None
        plan = aws.backup.Plan(
            f"{name}-plan",
            rules=backup_plan_rules(args["backup_rules"], vault.name, dr_vault.arn if dr_vault else None, self._tags),
            tags=self._tag(f"{name}-plan"),
            opts=here,
        )
        self.plan_id = plan.id
        backup_role = self._service_role(f"{name}-backup-role", BACKUP_SERVICE_POLICY_ARN, here)
        aws.backup.Selection(
            f"{name}-rds-selection",
            name=f"{name}-rds",
            plan_id=plan.id,
            iam_role_arn=backup_role.arn,
            resources=rds_selection_resources(args["region"], args["account_id"]),
            conditions=rds_selection_conditions(self.selection_tag),
            opts=here,
        )
        self.restore_testing_plan_name = self._restore_testing(vault, here)

        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "replicaBucketName": self.replica_bucket_name,
                "accessLogBucketName": self.access_log_bucket_name,
                "writerRoleArns": self.writer_role_arns,
                "vaultArn": self.vault_arn,
                "drVaultArn": self.dr_vault_arn,
                "planId": self.plan_id,
                "restoreTestingPlanName": self.restore_testing_plan_name,
            }
        )

    def _tag(self, name: str, **extra: str) -> dict[str, str]:
        return {**self._tags, "Name": name, **extra}

    def _key(self, label: str, purpose: str, policy: dict[str, Any], opts: pulumi.ResourceOptions) -> aws.kms.Key:
        key = aws.kms.Key(
            label,
            description=f"cryb-db {label}: {purpose}",
            enable_key_rotation=True,
            rotation_period_in_days=self._args["kms_rotation_period_days"],
            deletion_window_in_days=self._args["kms_deletion_window_days"],
            policy=json.dumps(policy),
            tags=self._tag(label, purpose=purpose),
            opts=opts,
        )
        aws.kms.Alias(f"{label}-alias", name=f"alias/{label}", target_key_id=key.key_id, opts=opts)
        return key

    def _log_bucket(self, label: str, region: str, opts: pulumi.ResourceOptions) -> _Bucket:
        # No Object Lock here: S3 refuses to deliver access logs to a bucket that has it.
        key = self._key(
            f"{label}-key", "S3 access log encryption", access_log_key_policy(self._args["account_id"], region), opts
        )
        bucket = aws.s3.Bucket(label, force_destroy=False, tags=self._tag(label, purpose="s3-access-logs"), opts=opts)
        versioning = lock_down(label, bucket, opts)
        encrypt(label, bucket, key.arn, opts)
        aws.s3.BucketLifecycleConfiguration(
            f"{label}-lifecycle",
            bucket=bucket.id,
            rules=access_log_lifecycle_rules(
                self._args["access_log_retention_days"], self._args["lifecycle"].abort_incomplete_uploads_after_days
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
        )
        return _Bucket(label, bucket, versioning, key.arn)

    def _backup_bucket(self, label: str, region: str, logs: _Bucket, opts: pulumi.ResourceOptions) -> _Bucket:
        args = self._args
        key = self._key(f"{label}-key", "backup bucket encryption", bucket_key_policy(args["account_id"], region), opts)
        # Object Lock can only be switched on when the bucket is created; it also forces versioning on.
        bucket = aws.s3.Bucket(
            label,
            object_lock_enabled=True,
            force_destroy=False,
            tags=self._tag(label, purpose="backups"),
            opts=opts,
        )
        versioning = lock_down(label, bucket, opts)
        after_versioning = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning]))
        encrypt(label, bucket, key.arn, opts)
        aws.s3.BucketObjectLockConfiguration(
            f"{label}-object-lock",
            bucket=bucket.id,
            object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": args["object_lock_mode"], "days": args["lifecycle"].object_lock_days}},
            opts=after_versioning,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{label}-lifecycle",
            bucket=bucket.id,
            rules=backup_lifecycle_rules(args["lifecycle"]),
            opts=after_versioning,
        )
        aws.s3.BucketPolicy(
            f"{label}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(lambda a: json.dumps(backup_bucket_policy(a[0], a[1]))),
            opts=opts,
        )
        # The log bucket admits this bucket's logs before logging is switched on.
        log_policy = aws.s3.BucketPolicy(
            f"{logs.label}-policy",
            bucket=logs.resource.id,
            policy=pulumi.Output.all(logs.arn, bucket.arn).apply(
                lambda a: json.dumps(access_log_bucket_policy(a[0], [a[1]], args["account_id"]))
            ),
            opts=opts,
        )
        aws.s3.BucketLogging(
            f"{label}-logging",
            bucket=bucket.id,
            target_bucket=logs.name,
            target_prefix=bucket.bucket.apply(lambda b: f"{ACCESS_LOG_PREFIX}/{b}/"),
            target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[log_policy])),
        )
        return _Bucket(label, bucket, versioning, key.arn)

    def _replication(
        self, source: _Bucket, replica: _Bucket, dr_region: str, opts: pulumi.ResourceOptions
    ) -> pulumi.Output[str]:
        args = self._args
        return declare_replication(
            f"{self._name}-replication",
            source_bucket_id=source.resource.id,
            source=ReplicatedBucket(source.arn, source.kms_key_arn, args["region"], source.versioning),
            replica=ReplicatedBucket(replica.arn, replica.kms_key_arn, dr_region, replica.versioning),
            rule_id="replicate-everything-to-dr",
            description="S3 replication of the cryb-db backup bucket to its DR-region replica",
            account_id=args["account_id"],
            tags=self._tags,
            opts=opts,
            replication_time_control=args["replication_time_control"],
        )

    def _writer(self, prefix: str, bucket: _Bucket, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        args, label = self._args, f"{self._name}-writer-{prefix}"
        role = aws.iam.Role(
            label,
            description=f"Backup agents writing to s3://<backup bucket>/{prefix}/ only",
            assume_role_policy=json.dumps(
                writer_trust_policy(args.get("writer_trust_services", ["ec2.amazonaws.com"]))
            ),
            tags=self._tag(label, prefix=prefix),
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{label}-policy",
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, bucket.kms_key_arn).apply(
                lambda a: json.dumps(
                    writer_role_policy(bucket_arn=a[0], prefix=prefix, kms_key_arn=a[1], region=args["region"])
                )
            ),
            opts=opts,
        )
        return role.arn

    def _vault(self, label: str, region: str, opts: pulumi.ResourceOptions) -> aws.backup.Vault:
        key = self._key(
            f"{label}-key", "AWS Backup vault encryption", vault_key_policy(self._args["account_id"], region), opts
        )
        vault = aws.backup.Vault(
            label, kms_key_arn=key.arn, force_destroy=False, tags=self._tag(label, purpose="rds-backups"), opts=opts
        )
        lock = self._args["vault_lock"]
        if lock is not None:
            aws.backup.VaultLockConfiguration(
                f"{label}-lock",
                backup_vault_name=vault.name,
                min_retention_days=lock.min_retention_days,
                max_retention_days=lock.max_retention_days,
                changeable_for_days=lock.changeable_for_days,
                opts=opts,
            )
        return vault

    def _service_role(self, label: str, policy_arn: str, opts: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(
            label,
            assume_role_policy=json.dumps(service_trust_policy("backup.amazonaws.com", self._args["account_id"])),
            tags=self._tag(label),
            opts=opts,
        )
        aws.iam.RolePolicyAttachment(f"{label}-policy", role=role.name, policy_arn=policy_arn, opts=opts)
        return role

    def _restore_testing(self, vault: aws.backup.Vault, opts: pulumi.ResourceOptions) -> pulumi.Output[str] | None:
        settings, args = self._args["restore_testing"], self._args
        if settings is None:
            return None
        label = f"{self._name}-restore-testing"
        plan = aws.backup.RestoreTestingPlan(
            label,
            name=restore_testing_name(f"{self._name}_rds"),
            schedule_expression=settings.schedule,
            start_window_hours=settings.start_window_hours,
            recovery_point_selection={
                "algorithm": "LATEST_WITHIN_WINDOW",
                "include_vaults": [vault.arn],
                "recovery_point_types": ["SNAPSHOT"],
                "selection_window_days": settings.selection_window_days,
            },
            tags=self._tag(label),
            opts=opts,
        )
        role = self._service_role(f"{label}-role", RESTORE_SERVICE_POLICY_ARN, opts)
        key, value = self.selection_tag
        aws.backup.RestoreTestingSelection(
            f"{label}-rds",
            name="rds_shards",
            restore_testing_plan_name=plan.name,
            protected_resource_type="RDS",
            iam_role_arn=role.arn,
            protected_resource_arns=["*"],
            protected_resource_conditions={"string_equals": [{"key": f"aws:ResourceTag/{key}", "value": value}]},
            validation_window_hours=settings.validation_window_hours,
            restore_metadata_overrides=pulumi.Output.all(
                args["restore_db_subnet_group_name"], *args["restore_security_group_ids"]
            ).apply(lambda a: rds_restore_overrides(a[0], a[1:], settings.instance_class)),
            opts=opts,
        )
        return plan.name
