"""`cryb-db:cache`: the cache tier (components/cache/component.py, docs/cache.md)."""

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationInfo, field_validator

from components.cache.cluster_plan import LayoutError, plan_cluster
from components.cache.redis_conf import INSTANCE_MEMORY_MIB, MaxmemoryPolicy
from components.monitoring.alarm_thresholds import CACHE_NODE_SIZES, cache_node_vcpu

from .base import Section
from .cache_windows import check_maintenance_window, parse_daily
from .network import check_log_retention

if TYPE_CHECKING:
    from .postgres import PostgresConfig

Engine = Literal["elasticache", "ec2", "kubernetes"]
Flavor = Literal["valkey", "redis"]

# Engine versions ElastiCache offers and the parameter-group family each belongs to (ElastiCache
# "Engine specific parameters"). Valkey 9.x is left out until its family name is confirmed.
ENGINE_VERSIONS: dict[str, dict[str, str]] = {
    "valkey": {"7.2": "valkey7", "8.0": "valkey8", "8.1": "valkey8", "8.2": "valkey8"},
    "redis": {"6.2": "redis6.x", "7.0": "redis7", "7.1": "redis7"},
}
DEFAULT_ENGINE_VERSION = "8.1"
MAX_CLUSTER_PORT = 65535
CLUSTER_BUS_OFFSET = 10000  # the cluster bus listens on port + 10000, as Redis does by default
PROD_MIN_SHARDS = 3

_NODE_TYPE = re.compile(r"^cache\.[a-z][a-z0-9-]*\.[a-z0-9]+$")


def parameter_group_family(flavor: str, version: str) -> str:
    """The ElastiCache parameter-group family of an engine version, e.g. valkey 8.1 -> `valkey8`."""
    return ENGINE_VERSIONS[flavor][version]


def is_burstable_cache_node_type(node_type: str) -> bool:
    """cache.t2/t3/t4g nodes run on CPU credits."""
    return node_type.startswith("cache.t")


def is_burstable_instance_type(instance_type: str) -> bool:
    """EC2 t2/t3/t3a/t4g instances run on CPU credits."""
    return instance_type.startswith("t")


def is_data_tiering_node_type(node_type: str) -> bool:
    """Data tiering (memory + local SSD) exists only on the r6gd family."""
    return node_type.startswith("cache.r6gd.")


class CacheConfig(Section):
    """The cache tier: an ElastiCache Valkey/Redis OSS replication group in cluster mode (`engine: elasticache`,
    default) or self-hosted cluster nodes on EC2 (`engine: ec2`). Sessions, feeds, rate limits, locks and
    Socket.io pub/sub live here."""

    port: int = Field(default=6379, ge=1024, le=65535, description="Port of the cache nodes (1024-65535).")
    engine: Engine = Field(
        default="elasticache",
        description="`elasticache`: a managed replication group in cluster mode; `ec2`: self-hosted cluster nodes "
        "(one launch template and instance per node) that install the server with cloud-init; `kubernetes`: a Valkey "
        "cluster StatefulSet on the EKS cluster (`cryb-db:kubernetes.dataStores`, docs/kubernetes.md).",
    )
    engine_flavor: Flavor = Field(
        default="valkey",
        description="`valkey` (default: the open-source fork ElastiCache recommends, cheaper than Redis OSS) or "
        "`redis` (Redis OSS). The ec2 engine installs Valkey only.",
    )
    engine_version: str = Field(
        default=DEFAULT_ENGINE_VERSION,
        description="Engine version (major.minor). valkey: 7.2, 8.0, 8.1, 8.2; redis: 6.2, 7.0, 7.1. It decides the "
        "parameter-group family (valkey7, valkey8, redis6.x, redis7).",
    )
    node_type: str = Field(
        default="cache.r7g.large",
        description="ElastiCache node type, e.g. cache.r7g.large (prod) or cache.t4g.small (dev); cache.r6gd.* "
        "requires dataTiering.",
    )
    shards: int = Field(
        default=3,
        ge=1,
        le=90,
        description="Shards (node groups, each one master). At least 3 in prod: a replica is promoted only with "
        "the votes of a majority of masters.",
    )
    replicas_per_shard: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Replicas per shard (1-5), each in another AZ than its master; Multi-AZ failover needs >= 1.",
    )
    maxmemory_policy: MaxmemoryPolicy = Field(
        default="volatile-lru",
        description="Eviction when memory is full. `volatile-lru` evicts only keys with a TTL, least recently used "
        "first: cached feeds and idle sessions go, hot lock and rate-limit keys stay, and keys the application "
        "stores without a TTL are never silently dropped (writes fail loudly instead).",
    )
    snapshot_retention_days: int = Field(
        default=7, ge=1, le=35, description="Days automatic snapshots are kept (1-35; ElastiCache.1 needs >= 1)."
    )
    snapshot_window: str | None = Field(
        default=None,
        description="Daily snapshot window `hh:mm-hh:mm` UTC, >= 60 min. Unset (default): placed by the program at "
        "the start of `cryb-db:windows.quietHours`. Set or placed, it must not overlap the maintenance window or any "
        "PostgreSQL backup/maintenance window.",
    )
    maintenance_window: str | None = Field(
        default=None,
        description="Weekly maintenance window `ddd:hh:mm-ddd:hh:mm` UTC, 60 min to 24 h. Unset (default): placed by "
        "the program on the day after the last shard's maintenance. Must not overlap the snapshot window or any "
        "PostgreSQL backup/maintenance window.",
    )
    data_tiering: bool = Field(
        default=False,
        description="Keep cold items on the node's local SSD (elasticache engine, cache.r6gd.* node types only; "
        "r6gd requires it).",
    )
    log_retention_days: int = Field(
        default=365,
        description="Retention of the slow-log and engine-log groups in days (a CloudWatch Logs period).",
    )
    transit_encryption: bool = Field(
        default=True,
        description="TLS between clients and nodes (and between nodes). Always true: plaintext is rejected "
        "(ElastiCache.5); the key exists so that setting it to false fails with this explanation.",
    )
    ec2_instance_type: str = Field(
        default="r7g.large",
        description="EC2 instance type of a self-hosted node (engine ec2): "
        + ", ".join(INSTANCE_MEMORY_MIB)
        + "; maxmemory is 75 % of its memory.",
    )

    @field_validator("engine")
    @classmethod
    def _bus_port_fits(cls, value: str, info: ValidationInfo) -> str:
        port = info.data.get("port")
        if value != "elasticache" and port is not None and port + CLUSTER_BUS_OFFSET > MAX_CLUSTER_PORT:
            raise ValueError(
                f"needs cryb-db:cache.port <= {MAX_CLUSTER_PORT - CLUSTER_BUS_OFFSET} (port is {port}): the cluster "
                f"bus of self-hosted nodes listens on port + {CLUSTER_BUS_OFFSET}"
            )
        return value

    @field_validator("engine_flavor")
    @classmethod
    def _ec2_installs_valkey(cls, value: str, info: ValidationInfo) -> str:
        if value != "valkey" and info.data.get("engine") == "ec2":
            raise ValueError(
                "must be valkey with engine ec2: self-hosted nodes install Valkey from the Amazon Linux 2023 "
                "repositories (use engine elasticache for Redis OSS)"
            )
        return value

    @field_validator("engine_version")
    @classmethod
    def _known_version(cls, value: str, info: ValidationInfo) -> str:
        flavor = info.data.get("engine_flavor")
        if flavor is not None and value not in ENGINE_VERSIONS[flavor]:
            raise ValueError(f"must be one of {', '.join(ENGINE_VERSIONS[flavor])} for engineFlavor {flavor!r}")
        return value

    @field_validator("node_type")
    @classmethod
    def _node_type_shape(cls, value: str) -> str:
        if not _NODE_TYPE.match(value):
            raise ValueError("must be an ElastiCache node type such as cache.r7g.large or cache.t4g.small")
        try:
            cache_node_vcpu(value)  # the alarms size their thresholds from it: an unknown size is a config error
        except ValueError:
            raise ValueError(
                f"must be cache.<family>.<size> with a known size: {', '.join(CACHE_NODE_SIZES)}"
            ) from None
        return value

    @field_validator("snapshot_window")
    @classmethod
    def _daily_window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_daily(value)
        return value

    @field_validator("maintenance_window")
    @classmethod
    def _weekly_window(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_maintenance_window(value, info.data.get("snapshot_window"))
        return value

    @field_validator("data_tiering")
    @classmethod
    def _tiering_needs_r6gd(cls, value: bool, info: ValidationInfo) -> bool:
        node_type, engine = info.data.get("node_type"), info.data.get("engine")
        if value and engine in ("ec2", "kubernetes"):
            raise ValueError(f"must be false with engine {engine}: only ElastiCache tiers data to SSD")
        if node_type is None or engine != "elasticache":
            return value
        if value and not is_data_tiering_node_type(node_type):
            raise ValueError(f"needs a cache.r6gd.* nodeType (nodeType is {node_type!r})")
        if not value and is_data_tiering_node_type(node_type):
            raise ValueError(f"must be true with nodeType {node_type!r}: r6gd nodes always tier data")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_period(cls, value: int) -> int:
        return check_log_retention(value)

    @field_validator("transit_encryption")
    @classmethod
    def _tls_is_required(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "must be true: in-transit encryption is required (Security Hub ElastiCache.5); clients connect with TLS"
            )
        return value

    @field_validator("ec2_instance_type")
    @classmethod
    def _known_instance_type(cls, value: str) -> str:
        if value not in INSTANCE_MEMORY_MIB:
            raise ValueError(f"must be one of {', '.join(INSTANCE_MEMORY_MIB)}")
        return value

    @property
    def cluster_port(self) -> int:
        return self.port + CLUSTER_BUS_OFFSET

    @property
    def parameter_group_family(self) -> str:
        return parameter_group_family(self.engine_flavor, self.engine_version)


def production_problems(cache: CacheConfig, availability_zones: int) -> list[str]:
    """What prod forbids: fewer than 3 shards (no failover quorum) or a layout that one AZ outage breaks.

    StackConfig._cross_section_rules raises them (through cache_stack_problems), one line per problem.
    """
    problems = []
    if cache.shards < PROD_MIN_SHARDS:
        problems.append(
            f"cryb-db:cache.shards = {cache.shards}: must be at least {PROD_MIN_SHARDS} in prod (automatic failover "
            "promotes a replica only with the votes of a majority of masters, and with fewer than 3 masters one "
            "lost master or AZ leaves no majority)"
        )
        return problems
    try:
        plan = plan_cluster(cache.shards, cache.replicas_per_shard, [f"az{i}" for i in range(availability_zones)])
    except LayoutError as exc:
        return [f"cryb-db:cache: {exc}"]
    problems += [
        f"cryb-db:cache.shards = {cache.shards}: {problem} (over {availability_zones} AZs)"
        for problem in plan.az_loss_problems()
    ]
    return problems


def cache_stack_problems(
    cache: CacheConfig, postgres: "PostgresConfig", environment: str, availability_zones: int
) -> list[str]:
    """Rules between the cache section and the rest of the stack, for StackConfig to raise: (prod) the layout keeps
    failing over after losing a master or an AZ. (The cache windows are placed and checked against every PostgreSQL
    window with them: components/config/windows.py.)"""
    problems: list[str] = []
    if environment == "prod":
        problems += production_problems(cache, availability_zones)
    return problems
