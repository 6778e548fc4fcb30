"""`cryb-db:postgres`: the PostgreSQL shards on RDS (docs/postgres.md).

Fields are declared in dependency order: a validator that compares two fields reads the earlier one from
`info.data`, so every error names the key it is about.
"""

import difflib
import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.postgres.schedule import parse_time, parse_weekly
from components.postgres.tuning import INSTANCE_CLASSES, engine_major

from .base import Section
from .network import check_log_retention
from .selfhosted import PatroniNodesConfig

DEFAULT_POSTGRES_PORT = 5432
MAX_SHARDS = 16
MAX_READ_REPLICAS = 5
RESERVED_USER_NAMES = ("postgres", "admin", "rdsadmin", "rdsrepladmin", "root", "master", "administrator")
RESERVED_DATABASE_NAMES = ("postgres", "template0", "template1", "rdsadmin")
CA_CERTIFICATES = ("rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1")
# Extensions applications may ask for: a subset of `SHOW rds.extensions` on RDS for PostgreSQL 16/17.
RDS_EXTENSIONS = (
    "btree_gin",
    "btree_gist",
    "citext",
    "hstore",
    "ltree",
    "pg_cron",
    "pg_partman",
    "pg_stat_statements",
    "pg_trgm",
    "pgcrypto",
    "postgis",
    "uuid-ossp",
    "vector",
)
# Where `backupReplicationRegion: auto` sends a region's backups: the nearest region in the same partition.
PAIRED_REGIONS = {
    "us-east-1": "us-west-2",
    "us-east-2": "us-west-2",
    "us-west-1": "us-west-2",
    "us-west-2": "us-east-1",
    "ca-central-1": "us-east-1",
    "sa-east-1": "us-east-1",
    "eu-west-1": "eu-central-1",
    "eu-west-2": "eu-west-1",
    "eu-west-3": "eu-central-1",
    "eu-central-1": "eu-west-1",
    "eu-north-1": "eu-central-1",
    "ap-south-1": "ap-southeast-1",
    "ap-southeast-1": "ap-southeast-2",
    "ap-southeast-2": "ap-southeast-1",
    "ap-northeast-1": "ap-northeast-3",
    "ap-northeast-2": "ap-northeast-1",
    "ap-northeast-3": "ap-northeast-1",
}
AUTO = "auto"
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


def performance_insights_retentions() -> tuple[int, ...]:
    """7 days (free) or whole months of 31 days up to 23 months, or 731 days (2 years)."""
    return (7, *(31 * months for months in range(1, 24)), 731)


# Keys that describe RDS resources; with engine `ec2` setting one is an error rather than silently ignored.
RDS_ONLY_FIELDS = (
    "topology",
    "instance_class",
    "engine_version",
    "read_replicas",
    "multi_az",
    "storage_type",
    "allocated_storage_gb",
    "max_allocated_storage_gb",
    "iops",
    "iam_authentication",
    "backup_window_start",
    "backup_window_minutes",
    "maintenance_window_minutes",
    "maintenance_window_start",
    "performance_insights_retention_days",
    "monitoring_interval_seconds",
    "deletion_protection",
    "final_snapshot",
    "apply_immediately",
    "ca_cert_identifier",
    "backup_replication_region",
)


class PostgresConfig(Section):
    """The PostgreSQL shards: N shards, each a Multi-AZ DB instance with read replicas or a Multi-AZ DB cluster
    (engine `rds`), or a self-hosted Patroni cluster on EC2 NVMe (engine `ec2`)."""

    engine: Literal["rds", "ec2", "kubernetes"] = Field(
        default="rds",
        description="`rds`: Amazon RDS shards. `ec2`: each shard is a self-hosted Patroni cluster on EC2 NVMe "
        "(`ec2.*`, docs/selfhosted.md) in the same outputs contract; it uses `port`, `shardCount`, `bucketCount`, "
        "`databaseName`, `adminUser`, `backupRetentionDays`, `logRetentionDays` and `extensions` of this section, "
        "the image and PostgreSQL major of `cryb-db:selfhosted`, and refuses the RDS-only keys. "
        "`kubernetes`: each shard is a CloudNativePG cluster on the EKS cluster (`cryb-db:kubernetes.dataStores`, "
        "docs/kubernetes.md); it uses "
        "the same keys as `ec2` (but serves on 5432 inside the cluster) and `ec2.nodeCount` as its instance count.",
    )
    ec2: PatroniNodesConfig = Field(
        default_factory=lambda: PatroniNodesConfig(),
        description="Nodes of each shard with engine `ec2` (instance type, node count, synchronous mode, Patroni "
        "timing); see `cryb-db:selfhosted.clusters.<name>` for the meaning of each key.",
    )
    port: int = Field(
        default=5433,
        ge=1150,
        le=65535,
        description="Port PostgreSQL listens on (1150-65535, not the default 5432, Security Hub RDS.23).",
    )
    shard_count: int = Field(
        default=4,
        ge=1,
        le=MAX_SHARDS,
        description=f"Physical shards (1-{MAX_SHARDS}). Grow by doubling: that moves the fewest buckets.",
    )
    bucket_count: int = Field(
        default=1024,
        ge=256,
        le=16384,
        description="Logical buckets keys hash to (a power of two, 256-16384). Fixed for the life of the data.",
    )
    topology: Literal["instance", "cluster"] = Field(
        default="instance",
        description="`instance`: a Multi-AZ DB instance (one synchronous standby) plus `readReplicas` read "
        "replicas, with cross-Region backup replication; `cluster`: a Multi-AZ DB cluster (writer plus two "
        "readable standbys, faster failover, needs a local-NVMe `d` class, no cross-Region automated backups).",
    )
    instance_class: str = Field(
        default="db.r7g.xlarge",
        description="RDS instance class of every shard member; one of the tuning table's classes "
        "(components/postgres/tuning.py), a local-NVMe `d` class with topology `cluster`.",
    )
    engine_version: str = Field(
        default="17",
        description="PostgreSQL version: a major (16 or 17; RDS picks and auto-upgrades the minor) or a minor "
        "such as 17.6. The parameter group family follows it.",
    )
    read_replicas: int = Field(
        default=1,
        ge=0,
        le=MAX_READ_REPLICAS,
        description=f"Read replicas per shard with topology `instance` (0-{MAX_READ_REPLICAS}); 0 with `cluster`, "
        "whose two standbys serve reads.",
    )
    multi_az: bool = Field(
        default=True,
        description="Keep a standby in another AZ for automatic failover (Security Hub RDS.5; required in prod).",
    )
    storage_type: Literal["gp3", "io2"] = Field(
        default="gp3", description="EBS storage: `gp3`, or `io2` (provisioned IOPS; set `iops`)."
    )
    allocated_storage_gb: int = Field(
        default=100,
        ge=20,
        le=65536,
        description="Initial storage per shard member in GiB (20-65536; at least 100 for io2).",
    )
    max_allocated_storage_gb: int = Field(
        default=1000,
        ge=20,
        le=65536,
        description="Storage autoscaling ceiling in GiB, at least 10% above `allocatedStorageGb` (instances only: "
        "a Multi-AZ DB cluster cannot autoscale storage).",
    )
    iops: int | None = Field(
        default=None,
        description="Provisioned IOPS: required for io2 (1000-256000, at most 1000 per GiB); optional for gp3 from "
        "400 GiB (12000-64000).",
    )
    database_name: str = Field(
        default="cryb",
        description="Database created on every shard (lowercase identifier; not postgres, template0/1, rdsadmin).",
    )
    admin_user: str = Field(
        default="cryb_admin",
        description="Master user name (lowercase identifier, not a well-known one such as postgres or admin, "
        "Security Hub RDS.24/25). Its password is generated and rotated by RDS in Secrets Manager.",
    )
    iam_authentication: bool = Field(
        default=True, description="IAM database authentication (Security Hub RDS.10/12; required in prod)."
    )
    backup_retention_days: int = Field(
        default=35, ge=1, le=35, description="Automated backup retention in days (1-35; 35 in prod)."
    )
    backup_window_start: str | None = Field(
        default=None,
        description="UTC start (hh:mm) of shard 0's daily backup window; shard i starts i windows later. Unset "
        "(default): placed by the program from `cryb-db:windows` (docs/postgres.md#backup-and-maintenance-windows).",
    )
    backup_window_minutes: int | None = Field(
        default=None,
        ge=30,
        le=180,
        description="Length of each shard's backup window in minutes (30-180). Unset: 60, or 30 where 60 does not "
        "fit the quiet hours.",
    )
    maintenance_window_minutes: int | None = Field(
        default=None,
        ge=30,
        le=180,
        description="Length of each maintenance window in minutes (30-180). Unset: 60, or 30 where 60 does not fit "
        "the quiet hours.",
    )
    maintenance_window_start: str | None = Field(
        default=None,
        description="UTC start (ddd:hh:mm) of shard 0's weekly maintenance; shard i patches i days later, its "
        "replicas right after it. Unset (default): placed by the program from `cryb-db:windows`. Set or placed, no "
        "window may overlap another (backups, maintenance, the cache's).",
    )
    performance_insights_retention_days: int = Field(
        default=7, description="Performance Insights retention: 7 (free), a multiple of 31 up to 713, or 731."
    )
    monitoring_interval_seconds: Literal[1, 5, 10, 15, 30, 60] = Field(
        default=60, description="Enhanced Monitoring interval in seconds: 1, 5, 10, 15, 30 or 60 (RDS.6)."
    )
    log_retention_days: int = Field(
        default=365,
        description="Retention of the exported PostgreSQL log groups (a CloudWatch Logs period; at least 365 in prod).",
    )
    deletion_protection: bool = Field(
        default=True, description="Refuse to delete shards (Security Hub RDS.7/8; required in prod)."
    )
    final_snapshot: bool = Field(
        default=True, description="Take a final snapshot when a shard is deleted (required in prod)."
    )
    apply_immediately: bool = Field(
        default=False, description="Apply modifications now instead of in the next maintenance window."
    )
    ca_cert_identifier: Literal["rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"] = Field(
        default="rds-ca-rsa2048-g1", description="Server certificate authority clients verify against."
    )
    backup_replication_region: str | None = Field(
        default=AUTO,
        description="Region automated backups are replicated to: `auto` (the stack region's pair, e.g. us-east-1 -> "
        "us-west-2, with topology `instance`; none with `cluster`, which has no cross-Region automated backups), "
        "a region name (topology `instance` only), or null for none (not allowed in prod with `instance`).",
    )
    extensions: list[str] = Field(
        default=["pg_stat_statements", "pg_partman", "pg_cron"],
        description="Extensions applications create (a subset of rds.extensions); pg_cron is preloaded when "
        "listed. TimescaleDB is not available on RDS.",
    )

    @field_validator("port")
    @classmethod
    def _not_default_port(cls, value: int) -> int:
        if value == DEFAULT_POSTGRES_PORT:
            raise ValueError("must not be the default port 5432 (RDS.23); use 1150-65535 except 5432, e.g. 5433")
        return value

    @field_validator("bucket_count")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("must be a power of two: 256, 512, 1024, 2048, 4096, 8192 or 16384")
        return value

    @field_validator("instance_class")
    @classmethod
    def _known_class(cls, value: str, info: ValidationInfo) -> str:
        if value not in INSTANCE_CLASSES:
            guess = difflib.get_close_matches(value, list(INSTANCE_CLASSES), n=1)
            hint = f" (did you mean {guess[0]!r}?)" if guess else ""
            raise ValueError(f"not in the tuning table{hint}; allowed: {', '.join(sorted(INSTANCE_CLASSES))}")
        if info.data.get("topology") == "cluster" and not INSTANCE_CLASSES[value].multi_az_cluster_capable:
            capable = sorted(n for n, c in INSTANCE_CLASSES.items() if c.multi_az_cluster_capable)
            raise ValueError(f"topology 'cluster' needs a local-NVMe class; allowed: {', '.join(capable)}")
        return value

    @field_validator("engine_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        engine_major(value)
        return value

    @field_validator("read_replicas")
    @classmethod
    def _replicas_only_with_instances(cls, value: int, info: ValidationInfo) -> int:
        if value and info.data.get("topology") == "cluster":
            raise ValueError("must be 0 with topology 'cluster': its two readable standbys serve reads")
        return value

    @field_validator("multi_az")
    @classmethod
    def _cluster_is_multi_az(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and info.data.get("topology") == "cluster":
            raise ValueError("must be true with topology 'cluster': a Multi-AZ DB cluster always spans 3 AZs")
        return value

    @field_validator("allocated_storage_gb")
    @classmethod
    def _io2_minimum(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("storage_type") == "io2" and value < 100:
            raise ValueError("must be at least 100 with storageType 'io2'")
        return value

    @field_validator("max_allocated_storage_gb")
    @classmethod
    def _ceiling_above_allocation(cls, value: int, info: ValidationInfo) -> int:
        allocated = info.data.get("allocated_storage_gb")
        if allocated is not None and value * 10 < allocated * 11:
            raise ValueError(f"must be at least 10% above allocatedStorageGb ({allocated}), e.g. {allocated * 2}")
        return value

    @field_validator("iops")
    @classmethod
    def _iops_fit_storage(cls, value: int | None, info: ValidationInfo) -> int | None:
        storage, allocated = info.data.get("storage_type"), info.data.get("allocated_storage_gb")
        if storage == "io2":
            if value is None or not 1000 <= value <= 256000:
                raise ValueError("storageType 'io2' needs iops between 1000 and 256000")
            if allocated is not None and value > allocated * 1000:
                raise ValueError(f"must be at most 1000 per GiB of allocatedStorageGb ({allocated * 1000})")
        elif value is not None:
            if allocated is not None and allocated < 400:
                raise ValueError("gp3 takes iops only from 400 GiB; leave it unset (3000 baseline) or use io2")
            if not 12000 <= value <= 64000:
                raise ValueError("must be between 12000 and 64000 with storageType 'gp3'")
        return value

    @field_validator("database_name")
    @classmethod
    def _database_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value) or value in RESERVED_DATABASE_NAMES:
            raise ValueError(
                "must be a lowercase identifier (a-z, 0-9, _; starts with a letter; up to 63) and not one of "
                + ", ".join(RESERVED_DATABASE_NAMES)
            )
        return value

    @field_validator("admin_user")
    @classmethod
    def _not_well_known_user(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a lowercase identifier (a-z, 0-9, _; starts with a letter; up to 63)")
        if value in RESERVED_USER_NAMES:
            raise ValueError(
                f"must not be a well-known name ({', '.join(RESERVED_USER_NAMES)}; RDS.24/25), e.g. cryb_admin"
            )
        return value

    @field_validator("backup_window_start")
    @classmethod
    def _backup_start_is_a_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)  # overlaps are checked with every other window (components/config/windows.py)
        return value

    @field_validator("maintenance_window_start")
    @classmethod
    def _maintenance_start_is_a_weekly_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_weekly(value)
        return value

    @field_validator("performance_insights_retention_days")
    @classmethod
    def _pi_retention(cls, value: int) -> int:
        if value not in performance_insights_retentions():
            raise ValueError("must be 7, a multiple of 31 up to 713 (months), or 731")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _log_retention(cls, value: int) -> int:
        return check_log_retention(value)

    @field_validator("backup_replication_region")
    @classmethod
    def _replication_fits_topology(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == AUTO:
            return value
        if not _REGION.match(value):
            raise ValueError("must be auto, null or an AWS region name such as us-west-2")
        if info.data.get("topology") == "cluster":
            raise ValueError(
                "must be unset with topology 'cluster': a Multi-AZ DB cluster has no cross-Region automated "
                "backups; use topology 'instance' to replicate backups to another region"
            )
        return value

    @field_validator("extensions")
    @classmethod
    def _available_on_rds(cls, value: list[str]) -> list[str]:
        if "timescaledb" in value:
            raise ValueError(
                "TimescaleDB is not available on Amazon RDS for PostgreSQL (it is not in rds.extensions); on RDS "
                "use native partitioning with pg_partman + pg_cron, or run TimescaleDB on the self-hosted "
                "PostgreSQL engine (EC2)"
            )
        unknown = sorted(set(value) - set(RDS_EXTENSIONS))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not available here; allowed: {', '.join(RDS_EXTENSIONS)}")
        return value

    @model_validator(mode="after")
    def _keys_fit_the_engine(self) -> "PostgresConfig":
        if self.engine != "rds":
            wrong = [name for name in RDS_ONLY_FIELDS if name in self.model_fields_set]
            if wrong:
                keys = ", ".join(to_camel(name) for name in wrong)
                raise ValueError(
                    f"engine = {self.engine!r}: {keys} apply to RDS shards only; remove them (self-hosted nodes "
                    "are set under `ec2`)"
                )
        elif "ec2" in self.model_fields_set:
            raise ValueError("engine = 'rds': `ec2` describes self-hosted shards; set engine: ec2 or remove it")
        return self

    def backup_region(self, stack_region: str) -> str | None:
        """The region backups are replicated to for a stack in `stack_region`, or None; ValueError if impossible."""
        key, value = "cryb-db:postgres.backupReplicationRegion", self.backup_replication_region
        if self.engine != "rds":
            return None  # self-hosted shards back up (pgBackRest, barman-cloud) into the replicated backup bucket
        if value is None or (value == AUTO and self.topology == "cluster"):
            return None
        if value == AUTO:
            if stack_region not in PAIRED_REGIONS:
                raise ValueError(
                    f"{key} = 'auto': no paired region known for {stack_region}; set a region (one of "
                    f"{', '.join(sorted(set(PAIRED_REGIONS.values())))}) or null"
                )
            return PAIRED_REGIONS[stack_region]
        if value == stack_region:
            raise ValueError(f"{key} = {value!r}: must differ from the stack's region {stack_region}")
        return value
