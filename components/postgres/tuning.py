"""PostgreSQL parameters computed from the instance class: pure functions, one reason per value (docs/postgres.md).

RDS units: `shared_buffers` and `effective_cache_size` in 8 kB pages, `*_mem` in kB, `max_wal_size` in MB,
durations in ms unless the name says otherwise.
"""

import re
from dataclasses import dataclass

# Majors RDS offers that this platform supports; a bare major ("17") lets RDS pick and auto-upgrade the minor.
ENGINE_MAJORS = ("16", "17")
_ENGINE_VERSION = re.compile(r"^(?P<major>\d+)(\.\d{1,2})?$")

KIB_PER_GIB = 1024 * 1024
PAGE_KIB = 8


@dataclass(frozen=True)
class InstanceClass:
    """What the tuning needs to know about an RDS instance class."""

    name: str
    vcpu: int
    memory_gib: int
    burstable: bool = False
    local_nvme: bool = False

    @property
    def memory_kib(self) -> int:
        return self.memory_gib * KIB_PER_GIB

    @property
    def multi_az_cluster_capable(self) -> bool:
        """Multi-AZ DB clusters run on classes with local NVMe ("d" classes)."""
        return self.local_nvme


# vCPUs per size, and GiB of memory per vCPU by family kind: m = 4, r = 8, c = 2.
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48, "16xlarge": 64}
_GIB_PER_VCPU = {"m": 4, "r": 8, "c": 2}
_FAMILIES = {
    # family: (kind, local NVMe)
    "m6g": ("m", False),
    "m7g": ("m", False),
    "m8g": ("m", False),
    "m6i": ("m", False),
    "r6g": ("r", False),
    "r7g": ("r", False),
    "r8g": ("r", False),
    "r6i": ("r", False),
    "m6gd": ("m", True),
    "m6id": ("m", True),
    "r6gd": ("r", True),
    "r6id": ("r", True),
    "c6gd": ("c", True),
}
# Burstable classes for dev only; micro/small are left out because Performance Insights does not run on them.
_BURSTABLE = {"db.t4g.medium": (2, 4), "db.t4g.large": (2, 8), "db.t4g.xlarge": (4, 16), "db.t4g.2xlarge": (8, 32)}


def _build_table() -> dict[str, InstanceClass]:
    table = {name: InstanceClass(name, vcpu, mem, burstable=True) for name, (vcpu, mem) in _BURSTABLE.items()}
    for family, (kind, nvme) in _FAMILIES.items():
        for size, vcpu in _SIZES.items():
            name = f"db.{family}.{size}"
            table[name] = InstanceClass(name, vcpu, vcpu * _GIB_PER_VCPU[kind], local_nvme=nvme)
    return table


INSTANCE_CLASSES: dict[str, InstanceClass] = _build_table()


def instance_class(name: str) -> InstanceClass:
    """The table row of `name`; ValueError naming the allowed classes otherwise."""
    try:
        return INSTANCE_CLASSES[name]
    except KeyError:
        raise ValueError(
            f"{name!r} is not in the tuning table; allowed: {', '.join(sorted(INSTANCE_CLASSES))}"
        ) from None


def engine_major(engine_version: str) -> str:
    """`17` or `17.6` -> `17`; ValueError for a malformed or unsupported version."""
    match = _ENGINE_VERSION.match(engine_version)
    if not match or match["major"] not in ENGINE_MAJORS:
        raise ValueError(
            f"{engine_version!r} is not a supported engine version; allowed: a major version "
            f"({', '.join(ENGINE_MAJORS)}; RDS picks and auto-upgrades the minor) or one of its minors, e.g. 17.6"
        )
    return match["major"]


def family(engine_version: str) -> str:
    """The parameter group family of an engine version: `16.4` -> `postgres16`."""
    return f"postgres{engine_major(engine_version)}"


@dataclass(frozen=True)
class Parameter:
    """One parameter group entry with the reason it has this value."""

    name: str
    value: str
    reason: str
    apply_method: str = "immediate"  # static (postmaster) parameters need "pending-reboot"


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def max_connections(cls: InstanceClass) -> int:
    """Backends sized to CPU since RDS Proxy multiplexes clients: 100 per vCPU, 1 per 10 MiB of RAM at most."""
    return _clamp(min(cls.vcpu * 100, cls.memory_kib // 1024 // 10), 100, 5000)


def parameters(name: str, *, cron_database: str | None = None) -> tuple[Parameter, ...]:
    """The parameter set for instance class `name`. `cron_database`: preload pg_cron and run its jobs there."""
    return parameters_for(instance_class(name), cron_database=cron_database)


def parameters_for(cls: InstanceClass, *, cron_database: str | None = None) -> tuple[Parameter, ...]:
    """The parameter set for any machine's size (`bench slo` tunes a loopback server to the machine it runs on)."""
    mem_kib = cls.memory_kib
    shared_buffers_kib = mem_kib // 4
    connections = max_connections(cls)
    work_mem_kib = _clamp((mem_kib - shared_buffers_kib) // (3 * connections), 4 * 1024, 256 * 1024)
    maintenance_kib = _clamp(mem_kib // 16, 64 * 1024, 2 * KIB_PER_GIB)
    autovacuum_kib = _clamp(mem_kib // 32, 64 * 1024, KIB_PER_GIB)
    preload = ["pg_stat_statements", "auto_explain"] + (["pg_cron"] if cron_database else [])
    reboot = "pending-reboot"
    params = [
        Parameter(
            "shared_buffers",
            str(shared_buffers_kib // PAGE_KIB),
            "25% of RAM: the classic PostgreSQL share; the OS page cache holds the rest",
            reboot,
        ),
        Parameter(
            "effective_cache_size",
            str(mem_kib * 3 // 4 // PAGE_KIB),
            "75% of RAM: shared buffers plus page cache, so the planner prefers index scans",
        ),
        Parameter(
            "max_connections",
            str(connections),
            "RDS Proxy multiplexes clients, so backends follow CPU: 100 per vCPU, at most RAM/10 MiB, 100-5000",
            reboot,
        ),
        Parameter(
            "work_mem",
            str(work_mem_kib),
            "(RAM - shared_buffers) / (3 x max_connections), 4-256 MiB: about 3 sorts/hashes per query fit in RAM",
        ),
        Parameter(
            "maintenance_work_mem",
            str(maintenance_kib),
            "RAM/16, 64 MiB-2 GiB: faster CREATE INDEX and manual VACUUM without starving queries",
        ),
        Parameter(
            "autovacuum_work_mem",
            str(autovacuum_kib),
            "RAM/32, 64 MiB-1 GiB per worker: bounds autovacuum memory across all workers",
        ),
        Parameter(
            "max_wal_size",
            str(_clamp(cls.memory_gib * 256, 2048, 16384)),
            "256 MB per GiB of RAM, 2-16 GB: write bursts trigger timed checkpoints, not forced ones",
        ),
        Parameter("random_page_cost", "1.1", "SSD (gp3/io2): a random page costs about as much as a sequential one"),
        Parameter(
            "effective_io_concurrency", "200", "SSD serves many concurrent reads; lets bitmap heap scans prefetch"
        ),
        Parameter("rds.force_ssl", "1", "Reject unencrypted connections (Security Hub RDS.38)"),
        Parameter(
            "rds.logical_replication",
            "1",
            "wal_level = logical: bucket moves copy rows with row-filtered publications (docs/sharding.md); "
            "static, applied at the next reboot",
            reboot,
        ),
        Parameter("password_encryption", "scram-sha-256", "Store password verifiers as SCRAM, never MD5"),
        Parameter(
            "shared_preload_libraries",
            ",".join(preload),
            "pg_stat_statements for per-query stats, auto_explain for slow plans"
            + (", pg_cron to run pg_partman maintenance" if cron_database else ""),
            reboot,
        ),
        Parameter(
            "log_min_duration_statement", "1000", "Log statements slower than 1 s: regressions show up, noise does not"
        ),
        Parameter("auto_explain.log_min_duration", "5000", "Log the plan of statements slower than 5 s"),
        Parameter("log_lock_waits", "1", "Log lock waits longer than deadlock_timeout (1 s) to find contention"),
        Parameter("log_autovacuum_min_duration", "10000", "Log autovacuum runs over 10 s: tables falling behind"),
        Parameter("log_temp_files", "65536", "Log temp files over 64 MiB: queries that need more work_mem"),
        Parameter(
            "idle_in_transaction_session_timeout",
            "60000",
            "End sessions idle in a transaction for 60 s: they hold locks and block vacuum",
        ),
        Parameter(
            "autovacuum_max_workers",
            str(_clamp(cls.vcpu // 4, 3, 8)),
            "One worker per 4 vCPUs, 3-8: many large tables are vacuumed in parallel",
            reboot,
        ),
        Parameter(
            "autovacuum_vacuum_scale_factor",
            "0.02",
            "Vacuum large tables after 2% dead rows, not 20%: less bloat, shorter vacuums",
        ),
        Parameter(
            "autovacuum_vacuum_insert_scale_factor",
            "0.05",
            "Append-mostly tables (messages) get vacuumed and frozen after 5% new rows",
        ),
        Parameter(
            "autovacuum_analyze_scale_factor", "0.01", "Re-analyze after 1% changed rows: fresh stats on big tables"
        ),
        Parameter(
            "autovacuum_vacuum_cost_limit", "2000", "SSD absorbs 10x the default vacuum I/O budget; vacuum keeps up"
        ),
    ]
    if cron_database:
        params.append(
            Parameter("cron.database_name", cron_database, "pg_cron schedules jobs in the application database", reboot)
        )
    return tuple(params)
