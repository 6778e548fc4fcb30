"""`components/kubernetes/cnpg.py` and `cache_cluster.py`, pure: the tuning a CloudNativePG cluster gets for its pod's
size, the Pooler's budget, TimescaleDB, the owner's secret, and the cache's names, memory and Job script."""

import dataclasses

import pytest

from components.cache.cluster_plan import plan_cluster
from components.kubernetes import cache_cluster, cnpg
from tests.cnpg_example import CLUSTER_SPEC


def spec(**changes: object) -> cnpg.ClusterSpec:
    return dataclasses.replace(CLUSTER_SPEC, **changes)  # type: ignore[arg-type]


def test_parameters_follow_the_pods_size() -> None:
    """2 vCPU and 8 GiB: shared_buffers 2 GiB (in kB: the operator reads a bare number as MB), 200 connections,
    effective_cache_size 6 GiB (786432 pages of 8 kB)."""
    params, preload = cnpg.postgres_parameters(spec(cpu=2, memory_mib=8192))
    assert params["shared_buffers"] == "2097152kB"
    assert params["max_connections"] == "200"
    assert params["effective_cache_size"] == "786432"
    assert params["autovacuum_max_workers"] == "3"
    assert preload == ["pg_stat_statements", "auto_explain", "pgaudit"]
    # The operator owns these (or they are RDS's): never in spec.postgresql.parameters.
    assert not {"shared_preload_libraries", "rds.force_ssl", "rds.logical_replication", "port", "ssl"} & set(params)


def test_timescaledb_is_preloaded_first_and_its_telemetry_off() -> None:
    params, preload = cnpg.postgres_parameters(spec(timescaledb=True))
    assert preload[0] == "timescaledb"
    assert params["timescaledb.telemetry_level"] == "off"


@pytest.mark.parametrize(("cpu", "memory_mib", "instances"), [(1, 2048, 2), (2, 8192, 3), (8, 65536, 6)])
def test_every_pooler_pod_at_full_pools_fits_max_connections(cpu: int, memory_mib: int, instances: int) -> None:
    s = spec(cpu=cpu, memory_mib=memory_mib, pooler_instances=instances)
    pooler = cnpg.pooler(s)["spec"]
    params = pooler["pgbouncer"]["parameters"]
    max_connections = int(cnpg.postgres_parameters(s)[0]["max_connections"])
    assert pooler["instances"] == instances
    assert instances * int(params["max_db_connections"]) <= max_connections - s.reserved_connections - 3
    assert int(params["default_pool_size"]) + int(params["reserve_pool_size"]) == int(params["max_db_connections"])


def test_the_owner_secret_is_a_basic_auth_secret_from_secrets_manager() -> None:
    external = cnpg.owner_external_secret(spec(), "arn:aws:secretsmanager:us-east-1:1:secret:owner")
    target = external["spec"]["target"]
    assert target["name"] == "shard0-owner" == cnpg.cluster(spec())["spec"]["bootstrap"]["initdb"]["secret"]["name"]
    assert target["template"]["type"] == "kubernetes.io/basic-auth"
    assert target["deletionPolicy"] == "Retain"
    assert external["spec"]["dataFrom"] == [{"extract": {"key": "arn:aws:secretsmanager:us-east-1:1:secret:owner"}}]


def test_shard_outputs_name_the_in_cluster_services() -> None:
    out = cnpg.shard_outputs(spec(name="shard3"), 3, "arn:secret", "us-east-1")
    assert out["writerEndpoint"] == "shard3-rw.cryb-db-data.svc.cluster.local"
    assert out["readerEndpoints"] == ["shard3-ro.cryb-db-data.svc.cluster.local"]
    assert out["proxyEndpoint"] == "shard3-pooler-rw.cryb-db-data.svc.cluster.local"
    assert (out["port"], out["proxyPort"], out["iamAuthentication"]) == (5432, 5432, False)


def test_cache_maxmemory_is_three_quarters_of_the_memory_limit() -> None:
    assert cache_cluster.node_conf_inputs(6379, 16379, 6000, "volatile-lru", 2).maxmemory_mb == 4500
    assert cache_cluster.node_conf_inputs(6379, 16379, 6000, "volatile-lru", 2).replicas_per_shard == 2


def test_the_job_script_names_every_pod_and_meets_by_address() -> None:
    plan = plan_cluster(3, 1, ["a", "b", "c"])
    script = cache_cluster.form_script(plan, "data", 6380, 16380)
    hosts = " ".join(f"cache-{i}.cache-nodes.data.svc.cluster.local" for i in range(6))
    assert f"HOSTS=({hosts})" in script
    assert "PORTS=(6380 6380 6380 6380 6380 6380)" in script
    assert 'CLUSTER MEET "${ADDRS[' in script and 'CLUSTER MEET "${HOSTS[' not in script
    files = cache_cluster.config_files(plan, "data", 6380, 16380, 2048, "allkeys-lru")
    assert files["form-cluster.sh"] == script
    assert "maxmemory 1536mb" in files["node.conf"] and "maxmemory-policy allkeys-lru" in files["node.conf"]


def _operator_quantity_kib(value: str) -> float:
    """shared_buffers as CloudNativePG 1.30's webhook reads it (parsePostgresQuantityValue): a bare number is MB,
    else the unit (kB, MB, GB, TB) in powers of 1024."""
    if value.isdigit():
        return int(value) * 1024
    units = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
    number, unit = value[:-2], value[-2:]
    return int(number) * units[unit]


@pytest.mark.parametrize(("cpu", "memory_mib"), [(1, 2048), (4, 32768), (16, 131072)])
def test_the_operator_accepts_shared_buffers_under_the_memory_request(cpu: int, memory_mib: int) -> None:
    """The webhook refuses a Cluster whose memory request is below shared_buffers: 25 % of it, read as it reads it."""
    s = spec(cpu=cpu, memory_mib=memory_mib)
    shared = _operator_quantity_kib(cnpg.postgres_parameters(s)[0]["shared_buffers"])
    assert shared == memory_mib * 1024 // 4
    assert cnpg.cluster(s)["spec"]["resources"]["requests"]["memory"] == f"{memory_mib}Mi"
