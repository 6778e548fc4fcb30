"""PgBouncer pool sizes as a pure function of the server's connection budget and the pooler's HPA maximum.

Every PgBouncer pool opens at most `max_db_connections` server connections to its server. The HPA may run its maximum
of pods, each with one pool per server (two on the writer when there is no reader: the reader pool goes there too),
so the bound that matters is `max_replicas * max_db_connections`, `max_replicas` counting those pools: it must stay
at or under what the server leaves for poolers (`max_connections` minus the superuser-reserved slots, the operators'
headroom and what other poolers, e.g. RDS Proxy, may take).
"""

from dataclasses import dataclass

# PostgreSQL's default superuser_reserved_connections (RDS and the Patroni renderer keep it).
SUPERUSER_RESERVED = 3
# At least this many server connections per pod, else the pool is too small to be worth running.
MIN_POOL_PER_POD = 4


class PoolBudgetError(ValueError):
    """The server has too few connections for this many PgBouncer pods."""


@dataclass(frozen=True)
class PoolSizes:
    """The per-pod numbers that go into pgbouncer.ini, and the budget they come from."""

    default_pool_size: int
    """Server connections per (database, user) pair kept for normal load."""
    reserve_pool_size: int
    """Extra connections a pool may open when a client waited `reserve_pool_timeout`."""
    max_db_connections: int
    """Hard cap of server connections per database per pod: default + reserve."""
    max_client_conn: int
    """Client connections one pod accepts."""
    budget: int
    """Server connections all pods together may use (max_connections minus everything reserved)."""
    max_replicas: int

    @property
    def worst_case_server_connections(self) -> int:
        """Server connections with every pod at the HPA maximum and every pool full."""
        return self.max_replicas * self.max_db_connections


def pool_sizes(
    *,
    max_connections: int,
    reserved_connections: int,
    max_replicas: int,
    other_poolers: int = 0,
    max_client_conn: int = 5000,
) -> PoolSizes:
    """Pool sizes so that `max_replicas` pods with full pools stay within `max_connections`.

    `reserved_connections`: the operators' headroom (migrations, psql, monitoring) on top of the superuser slots.
    `other_poolers`: connections another pooler in front of the same server may hold (RDS Proxy's
    `max_connections_percent` share).
    """
    if max_replicas < 1:
        raise PoolBudgetError(f"max_replicas = {max_replicas}: must be at least 1")
    budget = max_connections - SUPERUSER_RESERVED - reserved_connections - other_poolers
    per_pod = budget // max_replicas if budget > 0 else 0
    if per_pod < MIN_POOL_PER_POD:
        raise PoolBudgetError(
            f"max_connections {max_connections} - {SUPERUSER_RESERVED} superuser - {reserved_connections} reserved - "
            f"{other_poolers} other poolers leaves {budget} for {max_replicas} PgBouncer pools: "
            f"{per_pod} each, at least {MIN_POOL_PER_POD} needed (lower maxReplicas or reservedConnections)"
        )
    # A fifth of the pod's share waits in reserve for bursts, so steady load does not sit at the cap.
    reserve = max(1, per_pod // 5)
    return PoolSizes(
        default_pool_size=per_pod - reserve,
        reserve_pool_size=reserve,
        max_db_connections=per_pod,
        max_client_conn=max_client_conn,
        budget=budget,
        max_replicas=max_replicas,
    )


def open_files_needed(sizes: PoolSizes, databases: int = 1) -> int:
    """File descriptors one pod needs: every client, every server connection, and some slack for listeners/logs."""
    return sizes.max_client_conn + databases * sizes.max_db_connections + 64
