"""Pool sizes: every PgBouncer pod at the HPA maximum, with full pools, stays within the server's budget."""

import pytest

from components.kubernetes.pool_sizing import (
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
def test_all_pods_at_the_maximum_stay_under_max_connections(
    max_connections: int, max_replicas: int, reserved: int, proxy_percent: int
) -> None:
    other = max_connections * proxy_percent // 100
    try:
        sizes = pool_sizes(
            max_connections=max_connections,
            reserved_connections=reserved,
            max_replicas=max_replicas,
            other_poolers=other,
        )
    except PoolBudgetError:
        assert (max_connections - SUPERUSER_RESERVED - reserved - other) // max_replicas < MIN_POOL_PER_POD
        return
    assert sizes.default_pool_size + sizes.reserve_pool_size == sizes.max_db_connections
    assert sizes.worst_case_server_connections + other + reserved + SUPERUSER_RESERVED <= max_connections
    # and it does not waste the budget: less than one connection per pod is left unused
    assert sizes.budget - sizes.worst_case_server_connections < max_replicas
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


def test_too_small_a_server_is_refused_with_the_numbers() -> None:
    with pytest.raises(PoolBudgetError, match=r"max_connections 100 - 3 superuser - 10 reserved - 80 other poolers"):
        pool_sizes(max_connections=100, reserved_connections=10, max_replicas=4, other_poolers=80)
    with pytest.raises(PoolBudgetError, match="max_replicas = 0"):
        pool_sizes(max_connections=100, reserved_connections=10, max_replicas=0)


def test_open_files_cover_clients_and_servers() -> None:
    sizes = pool_sizes(max_connections=100, reserved_connections=7, max_replicas=1, max_client_conn=2000)
    assert open_files_needed(sizes) == 2000 + 90 + 64
