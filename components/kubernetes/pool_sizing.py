"""PgBouncer pool sizes as a pure function of the server's connection budget and the pooler's HPA maximum.

Every PgBouncer process keeps its own pool and opens at most `max_db_connections` server connections to its server.
The HPA may run its maximum of pods, each with one pool per server (two on the writer when there is no reader: the
reader pool goes there too), and each pool is served by `processes_per_pod` PgBouncer processes sharing its port
(`so_reuseport`: PgBouncer is single-threaded, so one process uses one core). The bound that matters is
`max_replicas * processes_per_pod * max_db_connections`, `max_replicas` counting the pods' pools: it must stay at or
under what the server leaves for poolers (`max_connections` minus the superuser-reserved slots, the operators'
headroom and what other poolers, e.g. RDS Proxy, may take).
"""

from dataclasses import dataclass

# PostgreSQL's default superuser_reserved_connections (RDS and the Patroni renderer keep it).
SUPERUSER_RESERVED = 3
# At least this many server connections per pool (one per PgBouncer process), else it is too small to be worth running.
MIN_POOL_PER_POD = 4
# PgBouncer processes per pool in a pod (cryb-db:kubernetes.pgbouncer.processesPerPod): two use two cores, which
# lifted pgbench -S through PgBouncer from 0.62 to ~0.98 of direct on the bench machine (docs/benchmarks.md).
DEFAULT_PROCESSES_PER_POD = 2
MAX_PROCESSES_PER_POD = 8


class PoolBudgetError(ValueError):
    """The server has too few connections for this many PgBouncer pods."""


@dataclass(frozen=True)
class PoolSizes:
    """The per-process numbers that go into pgbouncer.ini, and the budget they come from."""

    default_pool_size: int
    """Server connections per (database, user) pair kept for normal load."""
    reserve_pool_size: int
    """Extra connections a pool may open when a client waited `reserve_pool_timeout`."""
    max_db_connections: int
    """Hard cap of server connections per database per PgBouncer process: default + reserve."""
    max_client_conn: int
    """Client connections one PgBouncer process accepts."""
    budget: int
    """Server connections all pods together may use (max_connections minus everything reserved)."""
    max_replicas: int
    """The pods' pools on this server at the HPA maximum (the HPA maximum, doubled when a pod's two pools reach it)."""
    processes_per_pod: int = 1
    """PgBouncer processes per pool in a pod, each with a pool of these sizes."""

    @property
    def server_pools(self) -> int:
        """PgBouncer pools (one per process) that may hold connections to the server."""
        return self.max_replicas * self.processes_per_pod

    @property
    def worst_case_server_connections(self) -> int:
        """Server connections with every pod at the HPA maximum and every process's pool full."""
        return self.server_pools * self.max_db_connections


def pool_sizes(
    *,
    max_connections: int,
    reserved_connections: int,
    max_replicas: int,
    processes_per_pod: int = 1,
    other_poolers: int = 0,
    max_client_conn: int = 5000,
) -> PoolSizes:
    """Pool sizes so that `max_replicas` pods' pools, each served by `processes_per_pod` PgBouncer processes with a
    full pool, stay within `max_connections`.

    `reserved_connections`: the operators' headroom (migrations, psql, monitoring) on top of the superuser slots.
    `other_poolers`: connections another pooler in front of the same server may hold (RDS Proxy's
    `max_connections_percent` share).
    """
    if max_replicas < 1:
        raise PoolBudgetError(f"max_replicas = {max_replicas}: must be at least 1")
    if not 1 <= processes_per_pod <= MAX_PROCESSES_PER_POD:
        raise PoolBudgetError(f"processes_per_pod = {processes_per_pod}: must be 1-{MAX_PROCESSES_PER_POD}")
    budget = max_connections - SUPERUSER_RESERVED - reserved_connections - other_poolers
    pools = max_replicas * processes_per_pod
    per_process = budget // pools if budget > 0 else 0
    if per_process < MIN_POOL_PER_POD:
        processes = f" x {processes_per_pod} processes = {pools}" if processes_per_pod > 1 else ""
        raise PoolBudgetError(
            f"max_connections {max_connections} - {SUPERUSER_RESERVED} superuser - {reserved_connections} reserved - "
            f"{other_poolers} other poolers leaves {budget} for {max_replicas}{processes} PgBouncer pools: "
            f"{per_process} each, at least {MIN_POOL_PER_POD} needed (lower maxReplicas"
            f"{', processesPerPod' if processes_per_pod > 1 else ''} or reservedConnections)"
        )
    # A fifth of the process's share waits in reserve for bursts, so steady load does not sit at the cap.
    reserve = max(1, per_process // 5)
    return PoolSizes(
        default_pool_size=per_process - reserve,
        reserve_pool_size=reserve,
        max_db_connections=per_process,
        max_client_conn=max_client_conn,
        budget=budget,
        max_replicas=max_replicas,
        processes_per_pod=processes_per_pod,
    )


def open_files_needed(sizes: PoolSizes, databases: int = 1) -> int:
    """File descriptors one PgBouncer process needs: every client, every server connection, and some slack for
    listeners/logs."""
    return sizes.max_client_conn + databases * sizes.max_db_connections + 64
