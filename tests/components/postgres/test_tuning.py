"""The parameter function: numbers per instance class, static parameters, family from the engine version."""

import pytest

from components.postgres.tuning import INSTANCE_CLASSES, engine_major, family, instance_class, parameters

GIB_KIB = 1024 * 1024


def values(name: str, **kwargs: str) -> dict[str, str]:
    return {p.name: p.value for p in parameters(name, **kwargs)}


@pytest.mark.parametrize(
    ("name", "vcpu", "memory_gib"),
    [
        ("db.t4g.medium", 2, 4),
        ("db.m6g.large", 2, 8),
        ("db.r7g.xlarge", 4, 32),
        ("db.c6gd.2xlarge", 8, 16),
        ("db.m7g.4xlarge", 16, 64),
        ("db.r6gd.16xlarge", 64, 512),
    ],
)
def test_table_knows_vcpu_and_memory(name: str, vcpu: int, memory_gib: int) -> None:
    cls = instance_class(name)
    assert (cls.vcpu, cls.memory_gib) == (vcpu, memory_gib)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "db.t4g.medium",  # 4 GiB, 2 vCPU
            {
                "shared_buffers": "131072",
                "effective_cache_size": "393216",
                "max_connections": "200",
                "work_mem": "5242",
                "maintenance_work_mem": "262144",
                "autovacuum_work_mem": "131072",
                "max_wal_size": "2048",
                "autovacuum_max_workers": "3",
            },
        ),
        (
            "db.m6gd.large",  # 8 GiB, 2 vCPU
            {
                "shared_buffers": "262144",
                "effective_cache_size": "786432",
                "max_connections": "200",
                "work_mem": "10485",
                "maintenance_work_mem": "524288",
                "autovacuum_work_mem": "262144",
                "max_wal_size": "2048",
                "autovacuum_max_workers": "3",
            },
        ),
        (
            "db.r7g.xlarge",  # 32 GiB, 4 vCPU
            {
                "shared_buffers": "1048576",
                "effective_cache_size": "3145728",
                "max_connections": "400",
                "work_mem": "20971",
                "maintenance_work_mem": "2097152",
                "autovacuum_work_mem": "1048576",
                "max_wal_size": "8192",
                "autovacuum_max_workers": "3",
            },
        ),
        (
            "db.r7g.16xlarge",  # 512 GiB, 64 vCPU: every clamp at its ceiling
            {
                "shared_buffers": "16777216",
                "effective_cache_size": "50331648",
                "max_connections": "5000",
                "work_mem": "26843",
                "maintenance_work_mem": "2097152",
                "autovacuum_work_mem": "1048576",
                "max_wal_size": "16384",
                "autovacuum_max_workers": "8",
            },
        ),
    ],
)
def test_memory_parameters_follow_the_class(name: str, expected: dict[str, str]) -> None:
    got = values(name)
    assert {key: got[key] for key in expected} == expected


def test_security_and_observability_parameters_are_fixed() -> None:
    got = values("db.r7g.xlarge")
    assert got["rds.force_ssl"] == "1"
    logical = next(p for p in parameters("db.r7g.xlarge") if p.name == "rds.logical_replication")
    assert (logical.value, logical.apply_method) == ("1", "pending-reboot")  # static: takes effect at a reboot
    assert got["password_encryption"] == "scram-sha-256"
    assert got["shared_preload_libraries"].split(",") == ["pg_stat_statements", "auto_explain"]
    assert got["random_page_cost"] == "1.1"
    assert int(got["effective_io_concurrency"]) >= 100
    assert got["log_lock_waits"] == "1"
    assert int(got["log_min_duration_statement"]) > 0
    assert 0 < int(got["idle_in_transaction_session_timeout"]) <= 300_000
    assert float(got["autovacuum_vacuum_scale_factor"]) < 0.2  # tighter than PostgreSQL's default for big tables
    assert float(got["autovacuum_analyze_scale_factor"]) < 0.1
    assert "cron.database_name" not in got


def test_pg_cron_is_preloaded_only_when_asked() -> None:
    got = values("db.r7g.xlarge", cron_database="cryb")
    assert got["shared_preload_libraries"].split(",") == ["pg_stat_statements", "auto_explain", "pg_cron"]
    assert got["cron.database_name"] == "cryb"


def test_static_parameters_wait_for_a_reboot_and_dynamic_ones_apply_now() -> None:
    methods = {p.name: p.apply_method for p in parameters("db.r7g.xlarge", cron_database="cryb")}
    static = {"shared_buffers", "max_connections", "shared_preload_libraries", "autovacuum_max_workers"}
    static |= {"cron.database_name", "rds.logical_replication"}
    assert {name for name, method in methods.items() if method == "pending-reboot"} == static
    assert {method for name, method in methods.items() if name not in static} == {"immediate"}


@pytest.mark.parametrize("name", sorted(INSTANCE_CLASSES))
def test_every_class_fits_its_memory_and_every_value_has_a_reason(name: str) -> None:
    params = parameters(name)
    assert len({p.name for p in params}) == len(params), "a parameter is set twice"
    for p in params:
        assert p.reason.strip() and "\n" not in p.reason, p
    got = {p.name: int(p.value) for p in params if p.value.isdigit()}
    memory_kib = instance_class(name).memory_gib * GIB_KIB
    shared_kib = got["shared_buffers"] * 8
    assert shared_kib == memory_kib // 4
    assert 100 <= got["max_connections"] <= 5000
    assert 4096 <= got["work_mem"] <= 256 * 1024
    # Three work_mem allocations per backend fit next to shared_buffers, unless work_mem sits at its 4 MiB floor.
    assert got["work_mem"] == 4096 or shared_kib + 3 * got["max_connections"] * got["work_mem"] <= memory_kib
    workers_kib = got["autovacuum_max_workers"] * got["autovacuum_work_mem"]
    assert shared_kib + workers_kib < memory_kib


def test_bigger_classes_get_more_buffers_and_connections() -> None:
    sizes = ["db.r7g.large", "db.r7g.xlarge", "db.r7g.2xlarge", "db.r7g.4xlarge", "db.r7g.8xlarge"]
    buffers = [int(values(s)["shared_buffers"]) for s in sizes]
    connections = [int(values(s)["max_connections"]) for s in sizes]
    assert buffers == sorted(buffers) and len(set(buffers)) == len(buffers)
    assert connections == sorted(connections) and len(set(connections)) == len(connections)


def test_only_local_nvme_classes_can_run_a_multi_az_db_cluster() -> None:
    capable = {name for name, cls in INSTANCE_CLASSES.items() if cls.multi_az_cluster_capable}
    assert "db.r6gd.xlarge" in capable and "db.c6gd.large" in capable
    assert all(name.split(".")[1].endswith("d") for name in capable)
    assert "db.r7g.xlarge" not in capable and "db.t4g.medium" not in capable


def test_unknown_class_is_rejected_with_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"'db\.r7g\.xlarg' is not in the tuning table; allowed: .*db\.r7g\.xlarge"):
        parameters("db.r7g.xlarg")


@pytest.mark.parametrize(
    ("version", "expected"),
    [("16", "postgres16"), ("16.4", "postgres16"), ("17", "postgres17"), ("17.6", "postgres17")],
)
def test_family_follows_the_engine_version(version: str, expected: str) -> None:
    assert family(version) == expected


@pytest.mark.parametrize("version", ["15", "15.8", "18", "17.x", "v17", "", "17.6.1"])
def test_unsupported_engine_versions_are_rejected(version: str) -> None:
    with pytest.raises(ValueError, match="allowed: a major version"):
        engine_major(version)


def test_any_machine_size_is_tuned_by_the_same_rules() -> None:
    """`bench slo` sizes its loopback shard with parameters_for this machine: the same function as the classes."""
    from components.postgres.tuning import InstanceClass, instance_class, parameters, parameters_for

    assert parameters_for(instance_class("db.r7g.2xlarge")) == parameters("db.r7g.2xlarge")
    here = {p.name: p.value for p in parameters_for(InstanceClass("this machine", vcpu=2, memory_gib=24))}
    assert here["max_connections"] == "200"  # 100 per vCPU
    assert here["shared_buffers"] == str(24 * 1024 * 1024 // 4 // 8)  # 25 % of RAM in 8 kB pages
