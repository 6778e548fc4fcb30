"""`cryb-db:selfhosted`: PostgreSQL clusters on EC2 NVMe with Patroni, etcd and pgBackRest (docs/selfhosted.md).

Rules that need keys outside this section (environment, network.azCount) live in `selfhosted_problems`,
which `StackConfig._cross_section_rules` calls with both in view; the section validates everything it can see alone.
"""

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from components.selfhosted.nvme_instances import NVME_INSTANCE_TYPES, Arch, nvme_instance_type, validate_node_type
from components.selfhosted.patroni_config import DcsTiming, timing_problems, tuning_class_for

from .base import Section
from .errors import NAMESPACE
from .network import check_log_retention

ANALYTICS = "analytics"  # always self-hosted: TimescaleDB is not offered on RDS
MAX_CLUSTERS = 8
PATRONI4_MIN_TTL = 20  # Patroni 4 refuses a shorter ttl; keep configs portable to it
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")  # short: it ends up in NLB and target-group names (32 chars)
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PROXY = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_SSM_PARAMETER = re.compile(r"^/[A-Za-z0-9_./-]+$")


class PatroniNodesConfig(Section):
    """The nodes of one Patroni cluster and its failover timing: `nodeCount` nodes in as many AZs, each an
    auto-scaling group of one. Used by `selfhosted.clusters.<name>` and by `postgres.ec2` (OLTP shards)."""

    instance_type: str = Field(
        default="i4i.xlarge",
        description="EC2 instance type with local NVMe (components/selfhosted/nvme_instances.py): "
        + ", ".join(NVME_INSTANCE_TYPES)
        + ". PostgreSQL parameters are tuned from its vCPU and memory.",
    )
    min_nvme_gb: int = Field(
        default=0, ge=0, le=100_000, description="Smallest NVMe array (GB) the data needs; checked against the type."
    )
    node_count: int = Field(
        default=3,
        ge=3,
        le=5,
        description="Nodes (3 or 5), each in its own AZ and running an etcd member: an odd count keeps the etcd "
        "quorum when one node fails.",
    )
    synchronous_mode: bool = Field(
        default=True,
        description="Patroni synchronous mode: a commit returns only after a standby has it, and only a synchronous "
        "standby may be promoted, so a failover loses no acknowledged commit (RPO 0). Required in prod.",
    )
    synchronous_mode_strict: bool | None = Field(
        default=None,
        description="Refuse writes when no synchronous standby is available (never degrade to asynchronous). "
        "Unset: true in prod, false elsewhere; prod must not set false.",
    )
    ttl: int = Field(
        default=20,
        ge=PATRONI4_MIN_TTL,
        le=300,
        description="Seconds the leader lock lives without renewal: roughly the time to detect a dead leader "
        f"({PATRONI4_MIN_TTL}-300; Patroni 4 refuses less than {PATRONI4_MIN_TTL}). 20/5/7 measured 18.4 s from "
        "kill -9 to a new leader (target 20 s); Patroni's own 30/10/10 takes about 30 s.",
    )
    loop_wait: int = Field(default=5, ge=1, le=60, description="Seconds between Patroni's HA loop runs (1-60).")
    retry_timeout: int = Field(
        default=7,
        ge=1,
        le=120,
        description="Seconds Patroni retries the DCS and PostgreSQL before giving up; loopWait + 2 * retryTimeout "
        "must be <= ttl.",
    )

    @field_validator("instance_type")
    @classmethod
    def _nvme_type(cls, value: str) -> str:
        row = validate_node_type(value)
        tuning_class_for(row)  # the tuning function must know a class of this size
        return value

    @field_validator("min_nvme_gb")
    @classmethod
    def _fits(cls, value: int, info: ValidationInfo) -> int:
        instance_type = info.data.get("instance_type")
        if instance_type is not None:
            validate_node_type(instance_type, min_data_gb=value)
        return value

    @field_validator("node_count")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError("must be odd (3 or 5): etcd runs a member per node and an even count adds no tolerance")
        return value

    @field_validator("synchronous_mode_strict")
    @classmethod
    def _strict_needs_sync(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value and info.data.get("synchronous_mode") is False:
            raise ValueError("needs synchronousMode: true (strict mode only restricts synchronous replication)")
        return value

    @field_validator("retry_timeout")
    @classmethod
    def _timing(cls, value: int, info: ValidationInfo) -> int:
        ttl, loop_wait = info.data.get("ttl"), info.data.get("loop_wait")
        if ttl is not None and loop_wait is not None:
            problems = timing_problems(DcsTiming(ttl, loop_wait, value))
            if problems:
                raise ValueError(problems[0].replace("loop_wait", "loopWait").replace("retry_timeout", "retryTimeout"))
        return value

    def strict_for(self, environment: str) -> bool:
        """The configured strictness, else strict in prod only."""
        if self.synchronous_mode_strict is not None:
            return self.synchronous_mode_strict
        return self.synchronous_mode and environment == "prod"

    @property
    def timing(self) -> DcsTiming:
        return DcsTiming(self.ttl, self.loop_wait, self.retry_timeout)


class SelfHostedClusterConfig(PatroniNodesConfig):
    """One self-hosted cluster: its nodes (see PatroniNodesConfig), its database and, for analytics, TimescaleDB."""

    timescaledb: bool = Field(
        default=False,
        description="Install TimescaleDB (falls back to native partitioning with pg_partman where the package is "
        "unavailable). Always true for the `analytics` cluster.",
    )
    database_name: str = Field(default="cryb", description="Database created at bootstrap (lowercase identifier).")
    admin_user: str = Field(
        default="cryb_admin",
        description="Application admin role created at bootstrap; its password lives in Secrets Manager.",
    )
    backup_retention_days: int = Field(
        default=35, ge=7, le=3650, description="Days full backups (and the WAL they need) are kept (7-3650)."
    )

    @field_validator("database_name", "admin_user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value) or value in ("postgres", "template0", "template1", "replicator", "rewind"):
            raise ValueError("must be a lowercase identifier, not postgres, template0/1, replicator or rewind")
        return value


class SelfHostedConfig(Section):
    """Self-hosted PostgreSQL clusters on EC2 NVMe. The `analytics` cluster is always self-hosted with TimescaleDB;
    prod declares it, dev may leave `clusters` empty."""

    engine: Literal["ec2", "kubernetes"] = Field(
        default="ec2",
        description="`ec2`: Patroni on EC2 NVMe; `kubernetes`: each cluster is a CloudNativePG cluster on the EKS "
        "cluster (TimescaleDB image for `timescaledb` clusters; `cryb-db:kubernetes.dataStores`, docs/kubernetes.md), "
        "with `nodeCount` instances; it ignores `instanceType`, the image and the package proxy.",
    )
    clusters: dict[str, SelfHostedClusterConfig] = Field(
        default_factory=dict,
        description="Clusters by name (1-12 lowercase letters or digits, starting with a letter), e.g. `analytics`.",
    )
    port: int = Field(
        default=5432, ge=1024, le=65535, description="PostgreSQL port on the nodes and the writer/reader NLBs."
    )
    postgres_major: Literal["15", "16", "17"] = Field(
        default="17", description="PostgreSQL major version installed from apt.postgresql.org (15, 16 or 17)."
    )
    image_ssm_parameter: str | dict[Arch, str] | None = Field(
        default=None,
        description="SSM parameter naming the node AMI, e.g. a baked image published by the image pipeline: one "
        "name when every node type (`clusters.*.instanceType`, `postgres.ec2.instanceType`) has the same CPU "
        "architecture, else one per architecture (`{x86_64: /..., arm64: /...}`; i4i is x86_64, r6gd and r7gd arm64). "
        "Unset: the public Debian 12 parameter for each type's architecture, and cloud-init installs every package "
        "at boot (through `packageProxy`).",
    )
    package_proxy: str | None = Field(
        default=None,
        description="HTTP proxy URL apt uses at boot (`http://host:port`). The data subnets have no internet route, "
        "so a stock image needs it; a baked `imageSsmParameter` does not.",
    )
    log_retention_days: int = Field(
        default=365, description="Retention of the node log groups (a CloudWatch Logs period; >= 365 in prod)."
    )
    root_volume_gib: int = Field(
        default=30, ge=20, le=500, description="Encrypted gp3 root volume per node (GiB); data lives on NVMe."
    )

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, value: dict[str, SelfHostedClusterConfig]) -> dict[str, SelfHostedClusterConfig]:
        bad = sorted(name for name in value if not _CLUSTER_NAME.match(name))
        if bad:
            raise ValueError(f"{bad}: names must be 1-12 lowercase letters or digits, starting with a letter")
        if len(value) > MAX_CLUSTERS:
            raise ValueError(f"at most {MAX_CLUSTERS} clusters")
        analytics = value.get(ANALYTICS)
        if analytics is not None and not analytics.timescaledb:
            raise ValueError(f"{ANALYTICS}.timescaledb must be true: the analytics cluster exists for TimescaleDB")
        return value

    @field_validator("image_ssm_parameter")
    @classmethod
    def _ssm(cls, value: str | dict[Arch, str] | None) -> str | dict[Arch, str] | None:
        names = value.values() if isinstance(value, dict) else [] if value is None else [value]
        bad = [name for name in names if not _SSM_PARAMETER.match(name)]
        if bad:
            example = "/cryb-db/images/postgres"
            raise ValueError(f"{bad[0]!r}: must be an SSM parameter name starting with '/', e.g. {example}")
        return value

    @field_validator("package_proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value is not None and not _PROXY.match(value):
            raise ValueError("must be an http(s)://host[:port] URL")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return check_log_retention(value)


def selfhosted_problems(selfhosted: SelfHostedConfig, *, environment: str, availability_zones: int) -> list[str]:
    """Rules that need `cryb-db:environment` and `network.azCount`, one line per broken rule."""
    key = f"{NAMESPACE}:selfhosted"
    problems = []
    for name, cluster in selfhosted.clusters.items():
        if selfhosted.engine == "ec2" and cluster.node_count > availability_zones:
            problems.append(
                f"{key}.clusters.{name}.nodeCount = {cluster.node_count}: needs as many AZs (network.azCount is "
                f"{availability_zones}), and two nodes in one AZ would fail together"
            )
        if environment == "prod":
            if not cluster.synchronous_mode:
                problems.append(f"{key}.clusters.{name}.synchronousMode = False: must be true in prod (RPO 0)")
            if cluster.synchronous_mode_strict is False:
                problems.append(f"{key}.clusters.{name}.synchronousModeStrict = False: must be true (or unset) in prod")
    if (
        selfhosted.clusters
        and selfhosted.engine == "ec2"
        and selfhosted.image_ssm_parameter is None
        and selfhosted.package_proxy is None
    ):
        problems.append(
            f"{key}: set packageProxy or imageSsmParameter: nodes live in the data subnets, which have no internet "
            "route, so a stock image cannot install PostgreSQL, Patroni, etcd and pgBackRest at boot"
        )
    if environment == "prod":
        if ANALYTICS not in selfhosted.clusters:
            problems.append(f"{key}.clusters.{ANALYTICS}: required in prod (TimescaleDB analytics)")
        if selfhosted.log_retention_days < 365:
            problems.append(f"{key}.logRetentionDays = {selfhosted.log_retention_days}: must be at least 365 in prod")
    return problems


def image_problems(image_ssm_parameter: str | dict[Arch, str] | None, node_types: dict[str, str]) -> list[str]:
    """An AMI is built for one CPU architecture and EC2 refuses to start it on another: the image of every node type
    must be the one of its architecture. `node_types` maps the config key of each node type to its value."""
    if image_ssm_parameter is None:
        return []  # the public Debian parameter is chosen per architecture
    key = f"{NAMESPACE}:selfhosted.imageSsmParameter"
    by_arch: dict[str, list[str]] = {}
    for type_key, instance_type in node_types.items():
        if instance_type in NVME_INSTANCE_TYPES:  # an unknown type is reported by its own key
            by_arch.setdefault(nvme_instance_type(instance_type).arch, []).append(f"{type_key} {instance_type}")
    if isinstance(image_ssm_parameter, str):
        if len(by_arch) <= 1:
            return []
        found = " vs ".join(f"{arch}: {' and '.join(types)}" for arch, types in sorted(by_arch.items()))
        return [
            f"{key} = {image_ssm_parameter!r}: one image cannot boot nodes of two CPU architectures ({found}), "
            "so give one per architecture, e.g. {x86_64: /cryb-db/images/postgres-x86_64, arm64: "
            "/cryb-db/images/postgres-arm64}"
        ]
    return [
        f"{key}.{arch}: missing, needed by {', '.join(types)} (allowed keys: x86_64, arm64)"
        for arch, types in sorted(by_arch.items())
        if arch not in image_ssm_parameter
    ]
