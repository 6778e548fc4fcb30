"""Alarm definitions for the data stores: pure functions from the instance class to the CloudWatch recommended alarm
set (AWS's CloudWatch recommended alarms for RDS and ElastiCache), one reason per alarm (docs/monitoring.md).

The numbers come from the same table and functions the PostgreSQL component tunes with (postgres_tuning), so an
alarm on `DatabaseConnections` follows `max_connections` and one on `DBLoad` follows the vCPU count. The metric
itself (namespace, dimensions, statistic, period) is the owning component's `metric_...()` definition; a spec here
only says which statistic it expects, so a drift between the two fails the preview instead of alarming on the
wrong number.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from components.postgres.tuning import InstanceClass, max_connections
from components.selfhosted.nvme_instances import nvme_instance_type
from components.selfhosted.patroni_config import DATA_MOUNT, MAXIMUM_LAG_ON_FAILOVER_BYTES

GIB = 1024**3
XID_ALARM = 1_000_000_000  # AWS: alarm at ~1B; wraparound protection forces read-only near 2.1B
Severity = Literal["critical", "warning"]
Comparison = Literal["GreaterThanThreshold", "LessThanThreshold"]
Role = Literal["writer", "replica", "cluster"]

# gp3 delivers single-digit ms; 20 ms p90 means the volume (or its IOPS budget) is saturated. io2 is sub-ms.
STORAGE_LATENCY_SECONDS = {"gp3": 0.020, "io2": 0.010, "io1": 0.010}
# ElastiCache node sizes: vCPUs (every t4g size has 2).
_CACHE_SIZE_VCPU = {
    "micro": 2,
    "small": 2,
    "medium": 2,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
}
_CACHE_NODE_TYPE = re.compile(r"^cache\.[a-z0-9-]+\.(?P<size>[a-z0-9]+)$")
CACHE_NODE_SIZES = tuple(_CACHE_SIZE_VCPU)  # the sizes whose vCPUs the cache alarms know


@dataclass(frozen=True)
class AlarmSpec:
    """One recommended alarm on one metric of one resource."""

    key: str
    """Short name, unique per resource: the alarm is named `<resource>-<key>` (docs/monitoring.md#<key>)."""
    metric_name: str
    statistic: str
    """Statistic the alarm evaluates (`p90` is an extended statistic); must match the owner's metric definition."""
    comparison: Comparison
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    severity: Severity
    """`critical` alarms make up the composite "unhealthy" alarm that pages; `warning` ones only notify."""
    why: str
    treat_missing_data: str = "missing"
    period_seconds: int = 60
    unit: str = ""
    """How the threshold reads to a human: `%`, `bytes`, `s`, `count`."""
    anchor: str = ""
    """Section of docs/monitoring.md when the key alone is ambiguous (a node's `cpu` is not an RDS `cpu`)."""

    @property
    def runbook_anchor(self) -> str:
        return self.anchor or self.key

    @property
    def extended(self) -> bool:
        """Percentile statistics go to CloudWatch as `extended_statistic`."""
        return bool(re.fullmatch(r"p\d+(\.\d+)?", self.statistic))


@dataclass(frozen=True)
class AlarmSettings:
    """What a stack may tune (cryb-db:monitoring); everything else follows from the instance class."""

    replica_lag_seconds: int = 60
    connections_warning_percent: int = 80
    connections_critical_percent: int = 90
    storage_latency_ms: float | None = None
    """None: by storage type (STORAGE_LATENCY_SECONDS)."""
    cache_connections: int = 10_000
    cache_replication_lag_seconds: int = 60
    data_disk_warning_percent: int = 80
    data_disk_critical_percent: int = 90
    """Used space of a self-hosted node's NVMe data filesystem (/data) that warns and pages."""


def storage_latency_seconds(storage_type: str, settings: AlarmSettings) -> float:
    """p90 read/write latency that means the volume is saturated."""
    if settings.storage_latency_ms is not None:
        return settings.storage_latency_ms / 1000
    try:
        return STORAGE_LATENCY_SECONDS[storage_type]
    except KeyError:
        raise ValueError(f"storage type {storage_type!r}: one of {', '.join(STORAGE_LATENCY_SECONDS)}") from None


def connection_thresholds(cls: InstanceClass, settings: AlarmSettings) -> tuple[float, float]:
    """(warning, critical) backends: a share of the `max_connections` the parameter group sets for the class."""
    limit = max_connections(cls)
    return (
        float(limit * settings.connections_warning_percent // 100),
        float(limit * settings.connections_critical_percent // 100),
    )


def rds_alarm_specs(
    cls: InstanceClass, allocated_storage_gb: int, storage_type: str, role: Role, settings: AlarmSettings
) -> list[AlarmSpec]:
    """The recommended alarms of one RDS for PostgreSQL member (`writer`, `replica`) or Multi-AZ DB cluster."""
    warn_connections, crit_connections = connection_thresholds(cls, settings)
    latency = storage_latency_seconds(storage_type, settings)
    allocated_bytes = allocated_storage_gb * GIB
    specs = [
        AlarmSpec(
            "cpu",
            "CPUUtilization",
            "Average",
            "GreaterThanThreshold",
            90.0,
            5,
            5,
            "critical",
            "Sustained CPU above 90 % drives query latency up and connections into timeouts.",
            unit="%",
        ),
        AlarmSpec(
            "connections-warning",
            "DatabaseConnections",
            "Average",
            "GreaterThanThreshold",
            warn_connections,
            5,
            5,
            "warning",
            f"{settings.connections_warning_percent} % of max_connections ({max_connections(cls)} on {cls.name}): "
            "RDS Proxy caps itself at 80 %, so more means direct connections are piling up.",
            unit="count",
        ),
        AlarmSpec(
            "connections-critical",
            "DatabaseConnections",
            "Average",
            "GreaterThanThreshold",
            crit_connections,
            5,
            5,
            "critical",
            f"{settings.connections_critical_percent} % of max_connections ({max_connections(cls)}): new "
            "connections are about to be refused.",
            unit="count",
        ),
        AlarmSpec(
            "freeable-memory",
            "FreeableMemory",
            "Average",
            "LessThanThreshold",
            float(cls.memory_gib * GIB // 4),
            15,
            15,
            "warning",
            f"Less than 25 % of {cls.memory_gib} GiB free: work_mem sorts spill, the page cache shrinks, swapping "
            "starts.",
            unit="bytes",
        ),
        AlarmSpec(
            "free-storage",
            "FreeStorageSpace",
            "Minimum",
            "LessThanThreshold",
            float(allocated_bytes // 10),
            5,
            5,
            "critical",
            f"Less than 10 % of the allocated {allocated_storage_gb} GiB free: a full volume stops all writes. "
            "Storage autoscaling also starts at 10 %, so this fires when growth lags or hits its ceiling.",
            unit="bytes",
        ),
        AlarmSpec(
            "db-load",
            "DBLoad",
            "Average",
            "GreaterThanThreshold",
            float(cls.vcpu),
            15,
            15,
            "warning",
            f"More active sessions than the {cls.vcpu} vCPUs of {cls.name}: sessions queue for CPU or wait on "
            "locks and I/O.",
            unit="count",
        ),
        AlarmSpec(
            "read-latency",
            "ReadLatency",
            "p90",
            "GreaterThanThreshold",
            latency,
            5,
            5,
            "warning",
            f"p90 read latency above {latency * 1000:g} ms on {storage_type}: the volume or its IOPS are saturated.",
            unit="s",
        ),
        AlarmSpec(
            "write-latency",
            "WriteLatency",
            "p90",
            "GreaterThanThreshold",
            latency,
            5,
            5,
            "warning",
            f"p90 write latency above {latency * 1000:g} ms on {storage_type}: commits and checkpoints slow down.",
            unit="s",
        ),
    ]
    if role in ("writer", "cluster"):
        specs.append(
            AlarmSpec(
                "transaction-ids",
                "MaximumUsedTransactionIDs",
                "Average",
                "GreaterThanThreshold",
                float(XID_ALARM),
                1,
                1,
                "critical",
                "Transaction IDs used since the oldest unfrozen row passed 1 billion: vacuum is not freezing; near "
                "2.1 billion PostgreSQL stops accepting writes to prevent wraparound.",
                unit="count",
            )
        )
    if role == "writer":
        specs.append(
            AlarmSpec(
                "replication-slot-lag",
                "OldestReplicationSlotLag",
                "Maximum",
                "GreaterThanThreshold",
                float(allocated_bytes // 10),
                5,
                5,
                "warning",
                "The most lagging replication slot retains more WAL than 10 % of the volume: an abandoned slot "
                "fills the disk.",
                treat_missing_data="notBreaching",
                unit="bytes",
            )
        )
    if role == "replica":
        specs.append(
            AlarmSpec(
                "replica-lag",
                "ReplicaLag",
                "Maximum",
                "GreaterThanThreshold",
                float(settings.replica_lag_seconds),
                10,
                10,
                "critical",
                f"The replica is more than {settings.replica_lag_seconds} s behind: reads are stale and a promotion "
                "would lose that much.",
                unit="s",
            )
        )
    if cls.burstable:
        specs.append(
            AlarmSpec(
                "cpu-credits",
                "CPUCreditBalance",
                "Minimum",
                "LessThanThreshold",
                20.0,
                3,
                3,
                "warning",
                f"{cls.name} is burstable: with fewer than 20 credits left the CPU drops to its baseline.",
                unit="count",
            )
        )
    return specs


def cache_node_vcpu(node_type: str) -> int:
    """vCPUs of an ElastiCache node type from its size (cache.r7g.large -> 2)."""
    match = _CACHE_NODE_TYPE.match(node_type)
    if not match or match["size"] not in _CACHE_SIZE_VCPU:
        sizes = ", ".join(_CACHE_SIZE_VCPU)
        raise ValueError(f"node type {node_type!r}: expected cache.<family>.<size>, size one of {sizes}")
    return _CACHE_SIZE_VCPU[match["size"]]


def evictions_threshold(maxmemory_policy: str) -> float:
    """Evictions per minute that mean trouble. With `allkeys-*` the cache is a cache and evicting is its job; with
    `volatile-*` (sessions, locks, rate limits carry TTLs) any eviction drops live data early."""
    return 1000.0 if maxmemory_policy.startswith("allkeys-") else 0.0


def cache_alarm_specs(node_type: str, maxmemory_policy: str, replica: bool, settings: AlarmSettings) -> list[AlarmSpec]:
    """The recommended alarms of one cache node; `replica`: the node starts as a replica (reports ReplicationLag)."""
    vcpu = cache_node_vcpu(node_type)
    evictions = evictions_threshold(maxmemory_policy)
    specs = [
        AlarmSpec(
            "engine-cpu",
            "EngineCPUUtilization",
            "Average",
            "GreaterThanThreshold",
            90.0,
            5,
            5,
            "critical",
            "The engine runs commands on one thread: above 90 % every command waits.",
            unit="%",
        ),
        AlarmSpec(
            "memory",
            "DatabaseMemoryUsagePercentage",
            "Average",
            "GreaterThanThreshold",
            90.0,
            5,
            5,
            "critical",
            f"Above 90 % of maxmemory: at 100 % `{maxmemory_policy}` evicts keys or writes fail.",
            unit="%",
        ),
        AlarmSpec(
            "evictions",
            "Evictions",
            "Sum",
            "GreaterThanThreshold",
            evictions,
            5 if evictions else 1,
            5 if evictions else 1,
            "warning",
            f"Keys evicted under `{maxmemory_policy}`: "
            + (
                "more than 1000 a minute means the working set no longer fits."
                if evictions
                else "keys with a TTL (sessions, feeds) are dropped before they expire."
            ),
            treat_missing_data="notBreaching",
            unit="count",
        ),
        AlarmSpec(
            "connections",
            "CurrConnections",
            "Average",
            "GreaterThanThreshold",
            float(settings.cache_connections),
            10,
            10,
            "warning",
            f"More than {settings.cache_connections} client connections (maxclients is 65000): a connection leak "
            "or a reconnect storm.",
            unit="count",
        ),
        AlarmSpec(
            "auth-failures",
            "AuthenticationFailures",
            "Sum",
            "GreaterThanThreshold",
            0.0,
            1,
            1,
            "warning",
            "Failed AUTH attempts: a client with a stale password, or someone guessing.",
            treat_missing_data="notBreaching",
            unit="count",
        ),
    ]
    if vcpu <= 2:
        specs.append(
            AlarmSpec(
                "cpu",
                "CPUUtilization",
                "Average",
                "GreaterThanThreshold",
                90.0 / vcpu,
                5,
                5,
                "warning",
                f"{node_type} has {vcpu} vCPUs: host CPU above 90 % / {vcpu} means the engine's core is saturated "
                "(AWS guidance for nodes with 2 vCPUs or fewer).",
                unit="%",
            )
        )
    if replica:
        specs.append(
            AlarmSpec(
                "replication-lag",
                "ReplicationLag",
                "Maximum",
                "GreaterThanThreshold",
                float(settings.cache_replication_lag_seconds),
                15,
                15,
                "warning",
                f"The replica is more than {settings.cache_replication_lag_seconds} s behind its primary: a failover "
                "now loses those writes.",
                unit="s",
            )
        )
    return specs


def selfhosted_cache_alarm_specs() -> list[AlarmSpec]:
    """What a self-hosted cache node watches besides the ElastiCache set (ElastiCache manages these itself): its
    replication link, the cluster state it sees, and nodes out of the cluster (published by the node's agent)."""
    return [
        AlarmSpec(
            "cluster-state",
            "ClusterStateOk",
            "Minimum",
            "LessThanThreshold",
            1.0,
            2,
            2,
            "critical",
            "The node has seen `cluster_state:fail` for 2 minutes: some hash slots have no serving master, and every "
            "command on those keys fails.",
            unit="count",
        ),
        AlarmSpec(
            "node-out",
            "ClusterFailedNodes",
            "Maximum",
            "GreaterThanThreshold",
            0.0,
            3,
            3,
            "warning",
            "For 3 minutes the node has seen a node of the cluster failed, or does not know a planned node: a node "
            "is out of the cluster (a shard runs without its replica, or a replaced node has not rejoined).",
            unit="count",
        ),
        AlarmSpec(
            "replication-link",
            "MasterLinkHealthStatus",
            "Minimum",
            "LessThanThreshold",
            1.0,
            2,
            2,
            "warning",
            "The replica's link to its master has been down for 2 minutes: it serves stale reads and could not take "
            "over without losing writes.",
            unit="count",
        ),
    ]


def selfhosted_node_alarm_specs(instance_type: str, settings: AlarmSettings) -> list[AlarmSpec]:
    """The alarms of one self-hosted PostgreSQL node (an auto-scaling group of one, components/selfhosted/component.py):
    EC2 status checks and CPU, the group's in-service count, and the CloudWatch agent's data-disk and memory use."""
    node = nvme_instance_type(instance_type)
    warn_disk, crit_disk = settings.data_disk_warning_percent, settings.data_disk_critical_percent
    if not 0 < warn_disk < crit_disk < 100:
        raise ValueError(f"data disk thresholds {warn_disk} % / {crit_disk} %: need 0 < warning < critical < 100")
    return [
        AlarmSpec(
            "status-check",
            "StatusCheckFailed",
            "Maximum",
            "GreaterThanThreshold",
            0.0,
            2,
            2,
            "critical",
            "An EC2 system or instance status check has failed for 2 minutes: the host or the guest is broken and "
            "the node is not serving; Patroni fails over if it was the leader.",
            unit="count",
        ),
        AlarmSpec(
            "in-service",
            "GroupInServiceInstances",
            "Minimum",
            "LessThanThreshold",
            1.0,
            2,
            2,
            "critical",
            "The node's auto-scaling group has had no in-service instance for 2 minutes: the node is gone and the "
            "group is replacing it; the cluster runs one node short until the new one has rebuilt from its peers.",
            unit="count",
        ),
        AlarmSpec(
            "cpu",
            "CPUUtilization",
            "Average",
            "GreaterThanThreshold",
            80.0,
            15,
            15,
            "warning",
            f"CPU above 80 % of the {node.vcpu} vCPUs of {node.name} for 15 minutes: queries queue and replication "
            "replay on the standbys falls behind.",
            unit="%",
            anchor="cpu-node",
        ),
        AlarmSpec(
            "data-disk-warning",
            "disk_used_percent",
            "Maximum",
            "GreaterThanThreshold",
            float(warn_disk),
            5,
            5,
            "warning",
            f"The NVMe data filesystem ({DATA_MOUNT}, {node.nvme_total_gb} GB) is more than {warn_disk} % full: it "
            "holds the database, pg_wal and the pgBackRest spool, and cannot grow.",
            unit="%",
        ),
        AlarmSpec(
            "data-disk-critical",
            "disk_used_percent",
            "Maximum",
            "GreaterThanThreshold",
            float(crit_disk),
            5,
            5,
            "critical",
            f"The NVMe data filesystem is more than {crit_disk} % full: a full {DATA_MOUNT} stops PostgreSQL writes.",
            unit="%",
        ),
        AlarmSpec(
            "memory",
            "mem_used_percent",
            "Average",
            "GreaterThanThreshold",
            90.0,
            15,
            15,
            "warning",
            f"More than 90 % of {node.memory_gib} GiB in use (page cache not counted) for 15 minutes: sorts and "
            "hashes spill, and the kernel may kill a backend (which restarts every session).",
            unit="%",
            anchor="memory-node",
        ),
        AlarmSpec(
            "replication-lag",
            "replication_lag_bytes",
            "Maximum",
            "GreaterThanThreshold",
            float(MAXIMUM_LAG_ON_FAILOVER_BYTES),
            5,
            5,
            "warning",
            f"The node has been more than {MAXIMUM_LAG_ON_FAILOVER_BYTES // 1024**2} MiB of WAL behind the leader for "
            "5 minutes (Patroni's lag, published by the node's metrics agent): past maximum_lag_on_failover Patroni "
            "will not promote it, reads from it are stale, and a failover has one candidate fewer.",
            unit="bytes",
            anchor="replication-lag-node",
        ),
    ]


def selfhosted_cluster_alarm_specs() -> list[AlarmSpec]:
    """The alarms of one self-hosted PostgreSQL cluster as its clients see it: the healthy targets of its writer and
    reader load balancers, which admit exactly the nodes Patroni's REST API reports as leader and as replicas."""
    return [
        AlarmSpec(
            "no-writer",
            "HealthyHostCount",
            "Minimum",
            "LessThanThreshold",
            1.0,
            2,
            2,
            "critical",
            "No node has answered 200 on Patroni's /primary for 2 minutes: there is no leader the writer endpoint "
            "can route to, and every write fails (etcd lost its quorum, or no replica was fit to take over).",
            treat_missing_data="breaching",  # an NLB reports the count every minute; silence is not health
            unit="count",
        ),
        AlarmSpec(
            "no-reader",
            "HealthyHostCount",
            "Minimum",
            "LessThanThreshold",
            1.0,
            5,
            5,
            "warning",
            "No node has answered 200 on Patroni's /replica for 5 minutes: reads through the reader endpoint fail, "
            "and a failover would have no candidate.",
            treat_missing_data="breaching",
            unit="count",
        ),
    ]


def rotation_alarm_specs() -> list[AlarmSpec]:
    """The alarm of a Secrets Manager rotation function (components/rotation/function.py): any failed step."""
    return [
        AlarmSpec(
            "failed",
            "Errors",
            "Sum",
            "GreaterThanThreshold",
            0.0,
            1,
            1,
            "warning",
            "A step of a secret rotation failed. The credential in use still works (a Patroni rotation withdraws "
            "its pending version; a cache user keeps its current password), but it is not being rotated until the "
            "cause is fixed.",
            treat_missing_data="notBreaching",
            period_seconds=300,
            unit="count",
            anchor="failed-rotation",
        )
    ]


class MetricLike(Protocol):
    """What a component's `metric_...()` returns (`components.metrics.Metric`): CloudWatch identity of a metric."""

    @property
    def namespace(self) -> str: ...
    @property
    def metric_name(self) -> str: ...
    @property
    def dimensions(self) -> Mapping[str, Any]:
        """Dimension values: strings, or Outputs for names AWS generates (an auto-scaling group's)."""
        ...

    @property
    def statistic(self) -> str: ...
    @property
    def period_seconds(self) -> int: ...


@dataclass(frozen=True)
class PlannedAlarm:
    """One alarm to declare: which resource, which group it makes unhealthy, the spec and the owner's metric."""

    resource: str
    """The member the metric is about (DB instance, cluster, cache node id, or self-hosted node)."""
    group: str
    """The shard (PostgreSQL), node group (cache) or self-hosted cluster whose composite alarm it feeds."""
    kind: Literal["postgres", "cache", "selfhosted", "rotation"]
    spec: AlarmSpec
    metric: MetricLike

    @property
    def name(self) -> str:
        return f"{self.resource}-{self.spec.key}"


def check_metric_matches(spec: AlarmSpec, metric: MetricLike) -> None:
    """The owner's definition and the spec must agree on what is measured; a drift would alarm on another number."""
    if (metric.metric_name, metric.statistic, metric.period_seconds) != (
        spec.metric_name,
        spec.statistic,
        spec.period_seconds,
    ):
        raise ValueError(
            f"alarm {spec.key}: the metric definition is {metric.metric_name}/{metric.statistic}/"
            f"{metric.period_seconds}s but the alarm expects {spec.metric_name}/{spec.statistic}/{spec.period_seconds}s"
        )
