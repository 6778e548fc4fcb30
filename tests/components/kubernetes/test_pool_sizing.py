"""Pool sizes: every PgBouncer process of every pod at the HPA maximum, with full pools, stays within the server's
budget."""

import pytest

from components.kubernetes.pool_sizing import (
    MAX_PROCESSES_PER_POD,
    MIN_POOL_PER_POD,
    SUPERUSER_RESERVED,
    PoolBudgetError,
    open_files_needed,
    pool_sizes,
)


@pytest.mark.parametrize("max_connections", [100, 200, 400, 800, 1600, 5000])
@pytest.mark.parametrize("max_replicas", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("reserved", [0, 10, 25])
@pytest.mark.parametrize("proxy_percent", [0, 80])
@pytest.mark.parametrize("processes", [1, 2, 3])
def test_all_pods_at_the_maximum_stay_under_max_connections(
    max_connections: int, max_replicas: int, reserved: int, proxy_percent: int, processes: int
) -> None:
    other = max_connections * proxy_percent // 100
    try:
        sizes = pool_sizes(
            max_connections=max_connections,
            reserved_connections=reserved,
            max_replicas=max_replicas,
            processes_per_pod=processes,
            other_poolers=other,
        )
    except PoolBudgetError:
        assert (max_connections - SUPERUSER_RESERVED - reserved - other) // (
            max_replicas * processes
        ) < MIN_POOL_PER_POD
        return
    assert sizes.default_pool_size + sizes.reserve_pool_size == sizes.max_db_connections
    # every process of every pod has a pool of its own
    worst = max_replicas * processes * sizes.max_db_connections
    assert sizes.worst_case_server_connections == worst
    assert worst + other + reserved + SUPERUSER_RESERVED <= max_connections
    # and it does not waste the budget: less than one connection per process is left unused
    assert sizes.budget - worst < max_replicas * processes
    assert sizes.reserve_pool_size >= 1 and sizes.default_pool_size >= sizes.reserve_pool_size


def test_prod_shard_numbers() -> None:
    """db.r7g.2xlarge: max_connections 800; RDS Proxy may take 80%; 4 PgBouncer pods at most."""
    sizes = pool_sizes(max_connections=800, reserved_connections=10, max_replicas=4, other_poolers=640)
    assert (sizes.budget, sizes.max_db_connections, sizes.default_pool_size, sizes.reserve_pool_size) == (
        147,
        36,
        29,
        7,
    )


def test_prod_shard_numbers_with_two_processes_per_pod() -> None:
    """The same budget, 4 pods x 2 processes = 8 pools: 147 // 8 = 18 each (15 + 3 reserve), 144 at most in use."""
    sizes = pool_sizes(
        max_connections=800, reserved_connections=10, max_replicas=4, processes_per_pod=2, other_poolers=640
    )
    assert (sizes.max_db_connections, sizes.default_pool_size, sizes.reserve_pool_size) == (18, 15, 3)
    assert (sizes.server_pools, sizes.worst_case_server_connections) == (8, 144)


def test_the_bench_server_with_two_processes() -> None:
    """bench pooler's server: max_connections 120, 10 reserved, 4 pods x 2 processes: 107 // 8 = 13 (11 + 2)."""
    sizes = pool_sizes(max_connections=120, reserved_connections=10, max_replicas=4, processes_per_pod=2)
    assert (sizes.max_db_connections, sizes.default_pool_size, sizes.reserve_pool_size) == (13, 11, 2)


def test_too_small_a_server_is_refused_with_the_numbers() -> None:
    with pytest.raises(PoolBudgetError, match=r"max_connections 100 - 3 superuser - 10 reserved - 80 other poolers"):
        pool_sizes(max_connections=100, reserved_connections=10, max_replicas=4, other_poolers=80)
    with pytest.raises(PoolBudgetError, match="max_replicas = 0"):
        pool_sizes(max_connections=100, reserved_connections=10, max_replicas=0)
    # 800 - 3 - 10 - 640 = 147 for 16 pods x 3 processes = 48 pools: 3 each
    with pytest.raises(
        PoolBudgetError, match=r"147 for 16 x 3 processes = 48 PgBouncer pools: 3 each.*processesPerPod"
    ):
        pool_sizes(
            max_connections=800, reserved_connections=10, max_replicas=16, processes_per_pod=3, other_poolers=640
        )
    for processes in (0, MAX_PROCESSES_PER_POD + 1):
        with pytest.raises(PoolBudgetError, match=f"processes_per_pod = {processes}: must be 1-8"):
            pool_sizes(max_connections=800, reserved_connections=10, max_replicas=2, processes_per_pod=processes)


def test_open_files_cover_clients_and_servers() -> None:
    sizes = pool_sizes(max_connections=100, reserved_connections=7, max_replicas=1, max_client_conn=2000)
    assert open_files_needed(sizes) == 2000 + 90 + 64
