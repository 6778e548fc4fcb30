"""The whole typed stack config: every `cryb-db:*` key, one section per component."""

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.postgres.schedule import WindowPlan
from components.postgres.tuning import INSTANCE_CLASSES

from .backups import BackupsConfig
from .base import Section
from .cache import CacheConfig, cache_stack_problems, is_burstable_cache_node_type, is_burstable_instance_type
from .dr import DrConfig, dr_problems
from .kms import KmsConfig
from .kubernetes import KubernetesConfig, kubernetes_problems
from .monitoring import MonitoringConfig
from .network import NetworkConfig
from .postgres import PostgresConfig
from .selfhosted import SelfHostedConfig, image_problems, selfhosted_problems
from .windows import WindowsConfig, stack_windows, window_problems

REQUIRED_TAG_KEYS = ("environment", "service", "owner", "data-classification")

Environment = Literal["dev", "staging", "prod"]
DataClassification = Literal["public", "internal", "confidential", "restricted"]
Target = Literal["aws", "docker"]


class StackConfig(Section):
    """All `cryb-db:*` keys of a stack. Defaults are the secure ones; stack files set only what differs."""

    environment: Environment = Field(
        description="Which environment this stack is: dev, staging or prod. prod enforces the production rules."
    )
    target: Target = Field(
        default="aws",
        description="Where the stack runs: aws (the AWS components) or docker (the `local` stack: the same rendered "
        "node files as containers on one Docker host, docs/local.md). docker is refused in prod.",
    )
    owner: str = Field(
        default="platform-team",
        min_length=1,
        max_length=128,
        description="Team that owns the resources (the `owner` tag).",
    )
    service: str = Field(
        default="cryb-db", min_length=1, max_length=128, description="Service name (the `service` tag)."
    )
    data_classification: DataClassification = Field(
        default="confidential",
        description="Data classification of the data stores and everything else that holds or handles data (the "
        "`data-classification` tag): public, internal, confidential or restricted. The network's resources (VPC, "
        "subnets, routes, NAT, security groups, endpoints, flow logs) are tagged `internal` whatever this says: "
        "they hold no data.",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Extra tags on every taggable resource; cannot override environment, service, owner or "
        "data-classification.",
    )
    network: NetworkConfig = Field(
        default_factory=lambda: NetworkConfig(), description="The VPC (see `cryb-db:network.*`)."
    )
    kms: KmsConfig = Field(
        default_factory=lambda: KmsConfig(), description="Customer-managed keys (see `cryb-db:kms.*`)."
    )
    postgres: PostgresConfig = Field(
        default_factory=lambda: PostgresConfig(), description="PostgreSQL (see `cryb-db:postgres.*`)."
    )
    cache: CacheConfig = Field(default_factory=lambda: CacheConfig(), description="Cache tier (see `cryb-db:cache.*`).")
    monitoring: MonitoringConfig = Field(
        default_factory=lambda: MonitoringConfig(),
        description="Alert routing and alarm thresholds (see `cryb-db:monitoring.*`).",
    )
    backups: BackupsConfig = Field(
        default_factory=lambda: BackupsConfig(), description="Backup buckets and AWS Backup (see `cryb-db:backups.*`)."
    )
    selfhosted: SelfHostedConfig = Field(
        default_factory=lambda: SelfHostedConfig(),
        description="Self-hosted PostgreSQL clusters on EC2 NVMe (see `cryb-db:selfhosted.*`).",
    )
    dr: DrConfig = Field(
        default_factory=lambda: DrConfig(),
        description="The warm standby in `backups.drRegion` (see `cryb-db:dr.*`, docs/disaster-recovery.md).",
    )
    windows: WindowsConfig = Field(
        default_factory=lambda: WindowsConfig(),
        description="Preferences the backup and maintenance windows are placed from (see `cryb-db:windows.*`).",
    )
    kubernetes: KubernetesConfig = Field(
        default_factory=lambda: KubernetesConfig(),
        description="The applications' side on the EKS cluster: namespaces, secrets, PgBouncer (see "
        "`cryb-db:kubernetes.*`, docs/kubernetes.md).",
    )
    acknowledge_burstable_in_prod: bool = Field(
        default=False,
        description="prod refuses burstable classes (`db.t*` shards, `cache.t*` nodes, `t*` cache instances): "
        "under steady load their CPU credits run out and the CPU drops to its baseline. true accepts them, "
        "knowingly (the cpu-credits alarm then watches the RDS shards); leave it false unless the load is spiky.",
    )

    @field_validator("target")
    @classmethod
    def _docker_is_never_prod(cls, value: str, info: ValidationInfo) -> str:
        if value == "docker" and info.data.get("environment") == "prod":
            raise ValueError("must be 'aws' in prod: the docker target is a developer's platform")
        return value

    @field_validator("tags")
    @classmethod
    def _tags_do_not_override_required(cls, value: dict[str, str]) -> dict[str, str]:
        clashing = sorted(set(value) & set(REQUIRED_TAG_KEYS))
        if clashing:
            raise ValueError(
                f"must not set {', '.join(clashing)}: these tags come from environment, service, owner and "
                "dataClassification"
            )
        return value

    @model_validator(mode="after")
    def _enforce_production_rules(self) -> "StackConfig":
        """In prod the production rules are errors, not warnings."""
        if self.environment != "prod":
            return self
        broken = [
            f"cryb-db:{key} = {value!r}: must be {allowed}"
            for key, value, ok, allowed in self.production_rules()
            if not ok
        ]
        if broken:
            raise ValueError("; ".join(broken))
        return self

    @model_validator(mode="after")
    def _cross_section_rules(self) -> "StackConfig":
        """Rules between sections: every backup and maintenance window has a place clear of every other (shards,
        replicas, cache), and cache and self-hosted layouts fit the AZs (and, in prod, survive losing one)."""
        if self.target == "docker":
            return self  # no AWS infrastructure: the AZ, endpoint, image and window rules do not apply
        azs = self.network.az_count
        problems = [
            *window_problems(self.windows, self.postgres, self.cache, self.rds_standbys()),
            *cache_stack_problems(self.cache, self.postgres, self.environment, azs),
            *selfhosted_problems(self.selfhosted, environment=self.environment, availability_zones=azs),
        ]
        problems += self._ec2_shard_problems()
        # -- the warm standby in the DR region (components/config/dr.py) --
        problems += dr_problems(
            self.dr,
            environment=self.environment,
            dr_region=self.backups.dr_region,
            primary_cidr=self.network.cidr,
            engine=self.postgres.engine,
            topology=self.postgres.topology,
            cache_engine=self.cache.engine,
            cache_node_type=self.cache.node_type,
        )
        problems += kubernetes_problems(self)
        problems += image_problems(self.selfhosted.image_ssm_parameter, self._node_types())
        ec2_clusters = self.selfhosted.clusters and self.selfhosted.engine == "ec2"
        if (ec2_clusters or self.postgres.engine == "ec2") and not self.network.interface_endpoints:
            problems.append(
                "cryb-db:network.interfaceEndpoints = False: must be true with self-hosted nodes "
                "(cryb-db:selfhosted.clusters or cryb-db:postgres.engine: ec2): nodes in the data subnets attach "
                "their network interface and read their secrets through the endpoints"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def window_plan(self) -> WindowPlan:
        """Every backup and maintenance window of the stack (RDS shards, their replicas, the cache), none overlapping;
        `_cross_section_rules` has already refused a stack whose windows cannot be placed."""
        return stack_windows(self.windows, self.postgres, self.cache, self.rds_standbys())

    def rds_standbys(self) -> bool:
        """Each RDS shard has a cross-Region standby (cryb-db:dr): its maintenance window is placed with the others,
        as the last of the shard's replica windows (`window_plan().shards[i].replica_maintenance[-1]`)."""
        pg = self.postgres
        return (
            self.dr.enabled_for(self.environment)
            and self.backups.dr_region is not None
            and pg.engine == "rds"
            and pg.topology == "instance"
        )

    def _node_types(self) -> dict[str, str]:
        """Config key -> EC2 instance type of every self-hosted PostgreSQL node group."""
        types = {
            f"cryb-db:selfhosted.clusters.{name}.instanceType": cluster.instance_type
            for name, cluster in self.selfhosted.clusters.items()
        }
        if self.postgres.engine == "ec2":
            types["cryb-db:postgres.ec2.instanceType"] = self.postgres.ec2.instance_type
        return types

    def _ec2_shard_problems(self) -> list[str]:
        """Self-hosted shards: one node per AZ, an image that needs no internet, RPO 0 in prod."""
        pg, key = self.postgres, "cryb-db:postgres.ec2"
        if pg.engine not in ("ec2", "kubernetes"):
            return []
        problems = []
        # CloudNativePG instances spread over the EKS cluster's zones (its admin provides 3: docs/kubernetes.md).
        if pg.engine == "ec2" and pg.ec2.node_count > self.network.az_count:
            problems.append(
                f"{key}.nodeCount = {pg.ec2.node_count}: needs as many AZs (network.azCount is "
                f"{self.network.az_count}), and two nodes in one AZ would fail together"
            )
        if pg.engine == "ec2" and self.selfhosted.image_ssm_parameter is None and self.selfhosted.package_proxy is None:
            problems.append(
                "cryb-db:selfhosted: set packageProxy or imageSsmParameter for engine ec2 shards: nodes live in the "
                "data subnets, which have no internet route"
            )
        if self.environment == "prod":
            if not pg.ec2.synchronous_mode:
                problems.append(f"{key}.synchronousMode = False: must be true in prod (RPO 0)")
            if pg.ec2.synchronous_mode_strict is False:
                problems.append(f"{key}.synchronousModeStrict = False: must be true (or unset) in prod")
        return problems

    def production_rules(self) -> list[tuple[str, object, bool, str]]:
        """(key, value, ok, what prod requires): prod must survive an AZ outage and keep a year of flow logs.
        docs/configuration.md lists these rules from this method."""
        return [
            ("network.azCount", self.network.az_count, self.network.az_count == 3, "3 in prod"),
            ("network.natGateways", self.network.nat_gateways, self.network.nat_gateways == "perAz", "'perAz' in prod"),
            (
                "network.interfaceEndpoints",
                self.network.interface_endpoints,
                self.network.interface_endpoints,
                "true in prod",
            ),
            (
                "network.flowLogRetentionDays",
                self.network.flow_log_retention_days,
                self.network.flow_log_retention_days >= 365,
                "at least 365 in prod",
            ),
            *self._postgres_production_rules(),
            *self._burstable_production_rules(),
        ]

    def _burstable_production_rules(self) -> list[tuple[str, object, bool, str]]:
        """Burstable classes in use (the shard class on RDS, the cache node type of the engine in use) unless
        acknowledged: steady load drains their CPU credits."""
        pg, cache, acknowledged = self.postgres, self.cache, self.acknowledge_burstable_in_prod
        allowed = (
            "a non-burstable class in prod (CPU credits run out under steady load), or set "
            "cryb-db:acknowledgeBurstableInProd: true"
        )
        rds_burstable = pg.engine == "rds" and INSTANCE_CLASSES[pg.instance_class].burstable
        node_burstable = cache.engine == "elasticache" and is_burstable_cache_node_type(cache.node_type)
        ec2_burstable = cache.engine == "ec2" and is_burstable_instance_type(cache.ec2_instance_type)
        return [
            ("postgres.instanceClass", pg.instance_class, acknowledged or not rds_burstable, allowed),
            ("cache.nodeType", cache.node_type, acknowledged or not node_burstable, allowed),
            ("cache.ec2InstanceType", cache.ec2_instance_type, acknowledged or not ec2_burstable, allowed),
        ]

    def _postgres_production_rules(self) -> list[tuple[str, object, bool, str]]:
        """prod shards survive an AZ loss, cannot be deleted by accident, keep 35 days of backups and, where RDS
        allows it (topology `instance`), a copy of them in another region."""
        pg = self.postgres
        if pg.engine != "rds":  # RDS-only keys; self-hosted shards are checked by _ec2_shard_problems
            log_days, backup_days = pg.log_retention_days, pg.backup_retention_days
            return [
                ("postgres.logRetentionDays", log_days, log_days >= 365, "at least 365 in prod"),
                ("postgres.backupRetentionDays", backup_days, backup_days == 35, "35 in prod"),
            ]
        rules: list[tuple[str, object, bool, str]] = [
            ("postgres.multiAz", pg.multi_az, pg.multi_az, "true in prod"),
            ("postgres.deletionProtection", pg.deletion_protection, pg.deletion_protection, "true in prod"),
            ("postgres.finalSnapshot", pg.final_snapshot, pg.final_snapshot, "true in prod"),
            ("postgres.iamAuthentication", pg.iam_authentication, pg.iam_authentication, "true in prod"),
            ("postgres.backupRetentionDays", pg.backup_retention_days, pg.backup_retention_days == 35, "35 in prod"),
            (
                "postgres.logRetentionDays",
                pg.log_retention_days,
                pg.log_retention_days >= 365,
                "at least 365 in prod",
            ),
        ]
        if pg.topology == "instance":
            rules.append(
                (
                    "postgres.backupReplicationRegion",
                    pg.backup_replication_region,
                    pg.backup_replication_region is not None,
                    "auto or a region in prod with topology 'instance' (cross-Region automated backups)",
                )
            )
        return rules

    def tags_for(self, stack: str) -> dict[str, str]:
        """The tags every taggable resource carries."""
        return {
            **self.tags,
            "environment": self.environment,
            "service": self.service,
            "owner": self.owner,
            "data-classification": self.data_classification,
            "managed-by": "pulumi",
            "stack": stack,
        }
