"""`cryb-db:backups`: immutable S3 backups, AWS Backup for the RDS shards, restore testing.

Rules that need keys outside this section (environment, aws:region) live in `check_backups_for_stack`, which
`__main__.py` calls with both in view; the section itself validates everything it can see alone.
"""

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from .base import Section
from .errors import NAMESPACE, ConfigError

ObjectLockMode = Literal["COMPLIANCE", "GOVERNANCE"]
ColdStorageClass = Literal["GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# AWS Backup takes AWS cron/rate expressions; the Events syntax has six fields inside cron(...).
_SCHEDULE = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_INSTANCE_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
# S3 keeps an object at least 30 days in STANDARD_IA before a lifecycle rule may move it on.
MIN_DAYS_IN_INFREQUENT_ACCESS = 30


def _schedule(value: str) -> str:
    if not _SCHEDULE.match(value):
        raise ValueError("must be an AWS cron expression with six fields, e.g. cron(0 3 * * ? *)")
    return value


class BackupRuleConfig(Section):
    """One rule of the AWS Backup plan."""

    schedule: str = Field(
        description="When the rule runs: an AWS cron expression in UTC, e.g. `cron(0 3 * * ? *)`. The default applies "
        "when the whole rule is unset; a stack file that sets the rule sets both `schedule` and `retentionDays`."
    )
    retention_days: int = Field(
        ge=1,
        le=36500,
        description="Days a recovery point (and its DR-region copy) is kept (1-36500); set together with `schedule`.",
    )
    copy_to_dr: bool = Field(
        default=True, description="Copy each recovery point to the DR-region vault (only when `drRegion` is set)."
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _schedule(value)


class BackupPlanConfig(Section):
    """Daily, weekly and monthly rules; each keeps its recovery points for its own retention."""

    daily: BackupRuleConfig = Field(
        default_factory=lambda: BackupRuleConfig(schedule="cron(0 3 * * ? *)", retention_days=35),
        description="Daily recovery points (default 03:00 UTC, kept 35 days).",
    )
    weekly: BackupRuleConfig = Field(
        default_factory=lambda: BackupRuleConfig(schedule="cron(0 4 ? * SUN *)", retention_days=90),
        description="Weekly recovery points (default Sunday 04:00 UTC, kept 90 days).",
    )
    monthly: BackupRuleConfig = Field(
        default_factory=lambda: BackupRuleConfig(schedule="cron(0 5 1 * ? *)", retention_days=365),
        description="Monthly recovery points (default the 1st at 05:00 UTC, kept 365 days).",
    )

    def rules(self) -> dict[str, BackupRuleConfig]:
        return {"daily": self.daily, "weekly": self.weekly, "monthly": self.monthly}


class VaultLockConfig(Section):
    """AWS Backup Vault Lock: recovery points cannot be deleted early, not even by the account root."""

    enabled: bool | None = Field(
        default=None,
        description="Lock the vaults. Unset: locked in prod only; prod must not set false.",
    )
    min_retention_days: int = Field(
        default=7, ge=1, le=36500, description="Shortest retention a recovery point may have (1-36500)."
    )
    max_retention_days: int = Field(
        default=400, ge=1, le=36500, description="Longest retention a recovery point may have (1-36500)."
    )
    changeable_for_days: int = Field(
        default=3,
        ge=3,
        le=36500,
        description="Grace days before the lock becomes immutable (compliance mode); AWS requires at least 3.",
    )

    @field_validator("max_retention_days")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min_retention_days")
        if low is not None and value < low:
            raise ValueError(f"must be >= minRetentionDays ({low})")
        return value


class RestoreTestingConfig(Section):
    """AWS Backup restore testing: AWS restores the latest RDS recovery point on a schedule and deletes it."""

    enabled: bool = Field(default=True, description="Create the restore testing plan (must stay true in prod).")
    schedule: str = Field(
        default="cron(0 6 2 * ? *)",
        description="When restore tests start: an AWS cron expression in UTC (default monthly, the 2nd at 06:00).",
    )
    start_window_hours: int = Field(
        default=24, ge=1, le=168, description="Hours after the scheduled time the test may start (1-168)."
    )
    selection_window_days: int = Field(
        default=7, ge=1, le=365, description="Pick the latest recovery point of the last N days (1-365)."
    )
    validation_window_hours: int = Field(
        default=4,
        ge=1,
        le=168,
        description="Hours the restored instance is kept for validation before AWS Backup deletes it (1-168).",
    )
    instance_class: str | None = Field(
        default=None,
        description="DB instance class of the restored test instance, e.g. `db.t4g.medium`; unset: the source's.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _schedule(value)

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, value: str | None) -> str | None:
        if value is not None and not _INSTANCE_CLASS.match(value):
            raise ValueError("must be an RDS instance class such as db.t4g.medium")
        return value


class BackupsConfig(Section):
    """Backups and disaster recovery (docs/backups.md)."""

    dr_region: str | None = Field(
        default=None,
        description="Region of the replica bucket and the DR vault. Required in prod; must differ from aws:region.",
    )
    object_lock_mode: ObjectLockMode | None = Field(
        default=None,
        description="Default Object Lock mode of the backup buckets. Unset: COMPLIANCE in prod, GOVERNANCE "
        "elsewhere; prod must be COMPLIANCE.",
    )
    object_lock_days: int = Field(
        default=35,
        ge=1,
        le=3650,
        description="Default Object Lock retention in days (1-3650); noncurrent versions expire one day later.",
    )
    infrequent_access_after_days: int = Field(
        default=30, ge=30, le=3650, description="Days before objects move to STANDARD_IA (at least 30, an S3 rule)."
    )
    cold_storage_after_days: int = Field(
        default=90,
        ge=60,
        le=3650,
        description="Days before objects move to `coldStorageClass`; at least 30 after `infrequentAccessAfterDays`.",
    )
    cold_storage_class: ColdStorageClass = Field(
        default="GLACIER_IR",
        description="Colder class for old backups: GLACIER_IR (millisecond restores), GLACIER or DEEP_ARCHIVE.",
    )
    abort_incomplete_uploads_after_days: int = Field(
        default=7, ge=1, le=365, description="Days after which unfinished multipart uploads are removed (1-365)."
    )
    access_log_retention_days: int = Field(
        default=365, ge=1, le=3650, description="Days S3 server access logs of the backup buckets are kept (1-3650)."
    )
    writer_prefixes: list[str] = Field(
        default_factory=lambda: ["pgbackrest"],
        min_length=1,
        description="One writer role per prefix; each may write only under `<prefix>/` (lowercase, digits, '-').",
    )
    replication_time_control: bool = Field(
        default=True,
        description="S3 Replication Time Control: 15-minute replication SLA and replication metrics.",
    )
    vault_lock: VaultLockConfig = Field(
        default_factory=lambda: VaultLockConfig(), description="Vault Lock of the primary and DR vaults."
    )
    plan: BackupPlanConfig = Field(
        default_factory=lambda: BackupPlanConfig(), description="AWS Backup plan rules for the RDS shards."
    )
    restore_testing: RestoreTestingConfig = Field(
        default_factory=lambda: RestoreTestingConfig(), description="AWS Backup restore testing of the RDS shards."
    )

    @field_validator("dr_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError("must be an AWS region name such as us-west-2")
        return value

    @field_validator("writer_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not _PREFIX.match(p)]
        if bad:
            raise ValueError(f"{bad}: each must be 1-63 lowercase letters, digits or '-' (no '/'), e.g. pgbackrest")
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a prefix")
        return value

    @field_validator("cold_storage_after_days")
    @classmethod
    def _after_infrequent_access(cls, value: int, info: ValidationInfo) -> int:
        earlier = info.data.get("infrequent_access_after_days")
        if earlier is not None and value < earlier + MIN_DAYS_IN_INFREQUENT_ACCESS:
            raise ValueError(
                f"must be at least infrequentAccessAfterDays + {MIN_DAYS_IN_INFREQUENT_ACCESS} "
                f"({earlier + MIN_DAYS_IN_INFREQUENT_ACCESS}): S3 keeps objects 30 days in STANDARD_IA"
            )
        return value

    @field_validator("plan")
    @classmethod
    def _retention_within_vault_lock(cls, value: BackupPlanConfig, info: ValidationInfo) -> BackupPlanConfig:
        # A locked vault refuses recovery points whose retention is outside [min, max]: the jobs would fail.
        lock = info.data.get("vault_lock")
        if lock is None:
            return value
        outside = [
            f"{name}.retentionDays = {rule.retention_days}"
            for name, rule in value.rules().items()
            if not lock.min_retention_days <= rule.retention_days <= lock.max_retention_days
        ]
        if outside:
            raise ValueError(
                f"{', '.join(outside)}: must be within vaultLock.minRetentionDays..maxRetentionDays "
                f"({lock.min_retention_days}..{lock.max_retention_days})"
            )
        return value

    def object_lock_mode_for(self, environment: str) -> ObjectLockMode:
        """The configured mode, else COMPLIANCE in prod (nobody can shorten it) and GOVERNANCE elsewhere."""
        if self.object_lock_mode is not None:
            return self.object_lock_mode
        return "COMPLIANCE" if environment == "prod" else "GOVERNANCE"

    def vault_lock_for(self, environment: str) -> VaultLockConfig | None:
        """The vault lock to apply, or None (unset `enabled`: prod only)."""
        enabled = self.vault_lock.enabled if self.vault_lock.enabled is not None else environment == "prod"
        return self.vault_lock if enabled else None


def check_backups_for_stack(backups: BackupsConfig, *, environment: str, region: str) -> None:
    """Rules that need `cryb-db:environment` and `aws:region`; raises ConfigError naming every broken key."""
    key = f"{NAMESPACE}:backups"
    problems = []
    if backups.dr_region is not None and backups.dr_region == region:
        problems.append(f"{key}.drRegion = {backups.dr_region!r}: must differ from aws:region ({region!r})")
    if environment == "prod":
        if backups.dr_region is None:
            problems.append(f"{key}.drRegion: required in prod (a region other than aws:region {region!r})")
        if backups.object_lock_mode == "GOVERNANCE":
            problems.append(f"{key}.objectLockMode = 'GOVERNANCE': must be 'COMPLIANCE' in prod")
        if backups.vault_lock.enabled is False:
            problems.append(f"{key}.vaultLock.enabled = False: must be true (or unset) in prod")
        if not backups.restore_testing.enabled:
            problems.append(f"{key}.restoreTesting.enabled = False: must be true in prod")
    if problems:
        raise ConfigError(problems)
