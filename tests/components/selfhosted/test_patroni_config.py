"""patroni.yml and etcd member configuration: rules that make a cluster unsafe are errors, the rendering carries
synchronous replication, tuned parameters and archiving, and Patroni 3.0.2's own validator accepts it."""

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from components.config.selfhosted import SelfHostedConfig, selfhosted_problems
from components.postgres.tuning import parameters as rds_parameters
from components.selfhosted.nvme_instances import NvmeInstanceType
from components.selfhosted.patroni_config import (
    DcsTiming,
    PatroniConfigError,
    PatroniInputs,
    StandbySource,
    etcd_environment,
    node_inputs,
    render_etcd_env_file,
    render_patroni_config,
    render_patroni_yml,
    selfhosted_parameters,
    synchronous_standby_count,
    timing_problems,
    tuning_class_for,
)

HOSTS = ["10.20.64.10", "10.20.80.10", "10.20.96.10"]


def inputs(**overrides: Any) -> PatroniInputs:
    args: dict[str, Any] = {
        "scope": "analytics",
        "hosts": HOSTS,
        "node_index": 0,
        "instance_type": "i4i.xlarge",
        "postgres_major": "15",
        "synchronous_mode": True,
        "synchronous_mode_strict": True,
        "timing": DcsTiming(),
        "timescaledb": True,
        "client_cidrs": ["10.20.0.0/16"],
    }
    args.update(overrides)
    return node_inputs(**args)


def walk_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in [k, *walk_keys(v)]]
    if isinstance(value, list):
        return [k for item in value for k in walk_keys(item)]
    return []


# -- timing ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("ttl", "loop_wait", "retry_timeout"), [(30, 10, 10), (10, 2, 4), (20, 2, 9)])
def test_timing_within_ttl_is_accepted(ttl: int, loop_wait: int, retry_timeout: int) -> None:
    assert timing_problems(DcsTiming(ttl, loop_wait, retry_timeout)) == []


def test_timing_past_ttl_is_an_error_that_shows_the_arithmetic() -> None:
    (problem,) = timing_problems(DcsTiming(ttl=10, loop_wait=4, retry_timeout=4))
    assert "loop_wait + 2 * retry_timeout = 4 + 2 * 4 = 12 must be <= ttl" in problem
    with pytest.raises(PatroniConfigError, match="12 must be <= ttl"):
        render_patroni_yml(inputs(timing=DcsTiming(10, 4, 4)))


# -- impossible combinations -------------------------------------------------------------------------------------
def test_two_nodes_with_strict_synchronous_mode_are_refused() -> None:
    with pytest.raises(PatroniConfigError) as caught:
        render_patroni_yml(inputs(hosts=HOSTS[:2]))
    problems = caught.value.problems
    assert any("synchronous_mode_strict with 2 nodes: losing either node stops all writes" in p for p in problems)
    assert any("etcd runs one member per node and needs an odd number" in p for p in problems)


def test_strict_without_synchronous_mode_and_a_single_node_are_refused() -> None:
    with pytest.raises(PatroniConfigError, match="synchronous_mode_strict needs synchronous_mode"):
        render_patroni_yml(inputs(synchronous_mode=False))
    with pytest.raises(PatroniConfigError, match="no standby to confirm commits"):
        render_patroni_yml(inputs(hosts=HOSTS[:1], synchronous_mode_strict=False))


def test_shared_listeners_and_patroni_owned_parameters_are_refused() -> None:
    same_host = inputs(hosts=["10.0.0.1"] * 3)
    with pytest.raises(PatroniConfigError, match="two listeners share a host:port"):
        render_patroni_yml(same_host)
    owned = dataclasses.replace(inputs(), parameters={"archive_command": "/bin/true", "port": "6000"})
    with pytest.raises(PatroniConfigError, match="archive_command, port: set by Patroni or this renderer"):
        render_patroni_yml(owned)


@pytest.mark.parametrize(("nodes", "standbys"), [(2, 1), (3, 2), (5, 2), (7, 2)])
def test_two_standbys_confirm_commits_where_the_cluster_has_them(nodes: int, standbys: int) -> None:
    # Every failover candidate is then at least as far ahead as the replica that must follow it (no rewind).
    assert synchronous_standby_count(nodes) == standbys


# -- what the rendering carries --------------------------------------------------------------------------------
def test_prod_rendering_is_synchronous_strict_with_the_configured_timing() -> None:
    config = render_patroni_config(inputs(timing=DcsTiming(30, 10, 10)))
    dcs = config["bootstrap"]["dcs"]  # type: ignore[index]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 10)
    assert dcs["synchronous_mode"] is True and dcs["synchronous_mode_strict"] is True
    assert dcs["synchronous_node_count"] == 2  # both replicas of three nodes confirm commits
    assert dcs["postgresql"]["parameters"]["synchronous_commit"] == "on"
    assert config["etcd3"] == {
        "hosts": [f"{h}:2379" for h in HOSTS],
        "protocol": "https",  # with the cluster CA and Patroni's client certificate (etcd requires one)
        "cacert": "/etc/cryb-db/etcd-tls/ca.crt",
        "cert": "/etc/cryb-db/etcd-tls/patroni.crt",
        "key": "/etc/cryb-db/etcd-tls/patroni.key",
    }
    non_strict = render_patroni_config(inputs(synchronous_mode_strict=False))
    assert non_strict["bootstrap"]["dcs"]["synchronous_mode_strict"] is False  # type: ignore[index]


def test_archiving_and_replica_rebuilds_go_through_pgbackrest() -> None:
    config = render_patroni_config(inputs())
    params = config["bootstrap"]["dcs"]["postgresql"]["parameters"]  # type: ignore[index]
    assert params["archive_mode"] == "on"
    assert params["archive_command"] == "pgbackrest --config-path=/etc/pgbackrest --stanza=analytics archive-push %p"
    pg = config["postgresql"]
    assert pg["create_replica_methods"] == ["pgbackrest", "basebackup"]  # type: ignore[index]
    assert "archive-get %f" in pg["recovery_conf"]["restore_command"]  # type: ignore[index]


def test_tuned_parameters_are_the_instance_size_numbers_without_what_only_rds_knows() -> None:
    """i4i.large: 2 vCPUs, 16 GiB (16777216 KiB), 8 KiB pages; worked out by hand from the rules in docs/postgres.md."""
    values, preload = selfhosted_parameters("i4i.large")
    assert tuning_class_for(NvmeInstanceType("i4i.large", 2, 16, 1, 468, "x86_64")) == "db.r6g.large"
    assert {k: values[k] for k in HAND_TUNED} == HAND_TUNED
    assert preload == ["pg_stat_statements", "auto_explain", "pgaudit"]  # pgaudit: DDL and role changes audited
    assert not any(name.startswith("rds.") for name in values) and "shared_preload_libraries" not in values
    rendered = render_patroni_config(inputs(instance_type="i4i.large"))["bootstrap"]["dcs"]["postgresql"]  # type: ignore[index]
    assert {k: rendered["parameters"][k] for k in HAND_TUNED} == HAND_TUNED
    assert not any(name.startswith("rds.") for name in rendered["parameters"])
    assert rendered["parameters"]["wal_level"] == "logical"  # what rds.logical_replication turns on (bucket moves)
    # the RDS parameter group of the same size carries the same numbers (one definition for both engines)
    rds = {p.name: p.value for p in rds_parameters("db.r6g.large")}
    assert {k: rds[k] for k in HAND_TUNED} == HAND_TUNED


HAND_TUNED = {
    "shared_buffers": str(16 * 1024 * 1024 // 4 // 8),  # 25 % of RAM in pages: 524288
    "effective_cache_size": str(16 * 1024 * 1024 * 3 // 4 // 8),  # 75 %: 1572864
    "max_connections": "200",  # min(100 x 2 vCPUs, 16 GiB / 10 MiB = 1638)
    "work_mem": str((16 * 1024 * 1024 - 4 * 1024 * 1024) // (3 * 200)),  # KiB: 20971
    "maintenance_work_mem": str(1024 * 1024),  # RAM/16 = 1 GiB in KiB
    "autovacuum_work_mem": str(512 * 1024),  # RAM/32 = 512 MiB in KiB
}


def test_a_size_without_a_tuning_class_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"no class of components/postgres/tuning\.py has the same size"):
        tuning_class_for(NvmeInstanceType("x9.odd", 3, 24, 1, 100, "x86_64"))


def test_timescaledb_is_preloaded_first_only_on_request() -> None:
    local = render_patroni_config(inputs(timescaledb=True))["postgresql"]["parameters"]  # type: ignore[index]
    assert local["shared_preload_libraries"].split(",")[0] == "timescaledb"
    plain = render_patroni_config(inputs(timescaledb=False))["postgresql"]["parameters"]  # type: ignore[index]
    assert "timescaledb" not in plain["shared_preload_libraries"]


def test_no_password_is_rendered_and_the_rest_api_needs_credentials() -> None:
    config = render_patroni_config(inputs())
    assert "password" not in walk_keys(config)  # Patroni takes them from PATRONI_*_PASSWORD
    assert config["restapi"]["authentication"] == {"username": "patroni"}  # type: ignore[index]
    assert config["restapi"]["certfile"].endswith("node.crt")  # type: ignore[index]


def test_hba_admits_replication_only_from_the_nodes_and_clients_only_over_tls() -> None:
    hba = render_patroni_config(inputs())["postgresql"]["pg_hba"]  # type: ignore[index]
    replication = [line for line in hba if " replication " in line]
    assert replication == [f"hostssl replication replicator {h}/32 scram-sha-256" for h in HOSTS]
    assert "host all postgres,replicator,rewind 0.0.0.0/0 reject" in hba
    assert hba.index("host all postgres,replicator,rewind 0.0.0.0/0 reject") < hba.index(
        "hostssl all all 10.20.0.0/16 scram-sha-256"
    )
    assert not any(line.startswith("host all all") for line in hba)  # no plaintext client access
    assert not any(" trust" in line or " md5" in line for line in hba)


def test_patroni_3_validator_accepts_the_rendering(tmp_path: Path) -> None:
    """Patroni's own schema check; it also tries to bind the listen addresses, which are not on this machine."""
    assert shutil.which("patroni") is not None, "patroni is not installed: run .ci/setup.sh (make setup)"
    path = tmp_path / "patroni.yml"
    path.write_text(render_patroni_yml(inputs()))
    result = subprocess.run(["patroni", "--validate-config", str(path)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    unexpected = [line for line in complaints if "is already in use" not in line]
    assert unexpected == []
    broken = yaml.safe_load(path.read_text())
    del broken["postgresql"]["authentication"]["rewind"]
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(["patroni", "--validate-config", str(path)], capture_output=True, text=True, timeout=60)
    assert "postgresql.authentication.rewind  is not defined" in result.stdout + result.stderr


# -- etcd --------------------------------------------------------------------------------------------------------
def test_etcd_members_form_one_cluster_with_the_v2_api_off() -> None:
    nodes = inputs().nodes
    envs = [etcd_environment(nodes, i, data_dir="/data/etcd", cluster_token="cryb-db-x") for i in range(3)]
    clusters = {env["ETCD_INITIAL_CLUSTER"] for env in envs}
    assert clusters == {",".join(f"analytics-{x}=http://{h}:2380" for x, h in zip("abc", HOSTS, strict=True))}
    assert [env["ETCD_NAME"] for env in envs] == ["analytics-a", "analytics-b", "analytics-c"]
    assert envs[1]["ETCD_LISTEN_CLIENT_URLS"] == f"http://{HOSTS[1]}:2379,http://127.0.0.1:2379"
    assert all(env["ETCD_ENABLE_V2"] == "false" and env["ETCD_INITIAL_CLUSTER_STATE"] == "new" for env in envs)
    assert 'ETCD_NAME="analytics-a"\n' in render_etcd_env_file(envs[0])
    with pytest.raises(ValueError, match="must be 'new' or 'existing'"):
        etcd_environment(nodes, 0, data_dir="/d", cluster_token="t", initial_state="join")


# -- the config section -------------------------------------------------------------------------------------------
def cluster_config(**fields: Any) -> dict[str, Any]:
    return {"clusters": {"analytics": {"timescaledb": True, **fields}}, "packageProxy": "http://proxy.internal:3128"}


def test_config_checks_timing_types_and_node_counts_by_key() -> None:
    with pytest.raises(ValidationError, match=r"retryTimeout\n.*loopWait \+ 2 \* retryTimeout = 4 \+ 2 \* 9 = 22"):
        SelfHostedConfig.model_validate(cluster_config(ttl=20, loopWait=4, retryTimeout=9))
    with pytest.raises(ValidationError, match=r"did you mean 'i4i\.xlarge'"):
        SelfHostedConfig.model_validate(cluster_config(instanceType="i4i.xlarg"))
    with pytest.raises(ValidationError, match="must be odd"):
        SelfHostedConfig.model_validate(cluster_config(nodeCount=4))
    with pytest.raises(ValidationError, match="greater than or equal to 20"):
        SelfHostedConfig.model_validate(cluster_config(ttl=10))  # Patroni 4 refuses it
    with pytest.raises(ValidationError, match="needs synchronousMode: true"):
        SelfHostedConfig.model_validate(cluster_config(synchronousMode=False, synchronousModeStrict=True))
    with pytest.raises(ValidationError, match="analytics cluster exists for TimescaleDB"):
        SelfHostedConfig.model_validate({"clusters": {"analytics": {}}})


def test_prod_needs_analytics_strict_mode_enough_azs_and_a_package_source() -> None:
    strict_default = SelfHostedConfig.model_validate(cluster_config())
    assert strict_default.clusters["analytics"].strict_for("prod") is True
    assert strict_default.clusters["analytics"].strict_for("dev") is False
    assert selfhosted_problems(strict_default, environment="prod", availability_zones=3) == []
    relaxed = SelfHostedConfig.model_validate(cluster_config(synchronousModeStrict=False))
    assert any(
        "synchronousModeStrict = False" in p
        for p in selfhosted_problems(relaxed, environment="prod", availability_zones=3)
    )
    assert any(
        "needs as many AZs" in p for p in selfhosted_problems(strict_default, environment="dev", availability_zones=2)
    )
    missing = selfhosted_problems(SelfHostedConfig(), environment="prod", availability_zones=3)
    assert any("clusters.analytics: required in prod" in p for p in missing)
    assert selfhosted_problems(SelfHostedConfig(), environment="dev", availability_zones=2) == []
    no_source = SelfHostedConfig.model_validate({"clusters": {"analytics": {"timescaledb": True}}})
    assert any(
        "set packageProxy or imageSsmParameter" in p
        for p in selfhosted_problems(no_source, environment="dev", availability_zones=3)
    )


# -- a DR standby cluster ------------------------------------------------------------------------------------------
def test_a_standby_cluster_is_seeded_from_and_replays_the_primarys_repository_only() -> None:
    """`standby_cluster` in the DCS: the leader restores the primary's newest backup and replays its archive from
    the primary's prefix (named on the command line: the node's own prefix stays its own); no host to stream from."""
    config = render_patroni_config(inputs(standby=StandbySource("pgbackrest-analytics")))
    standby = config["bootstrap"]["dcs"]["standby_cluster"]  # type: ignore[index]
    assert standby == {
        "create_replica_methods": ["pgbackrest_standby"],
        "restore_command": "pgbackrest --config-path=/etc/pgbackrest --stanza=analytics "
        '--repo1-path=/pgbackrest-analytics archive-get %f "%p"',
    }
    seed = config["postgresql"]["pgbackrest_standby"]  # type: ignore[index]
    assert seed == {
        "command": "pgbackrest --config-path=/etc/pgbackrest --stanza=analytics --repo1-path=/pgbackrest-analytics "
        "--delta restore",
        "keep_data": True,
        "no_params": True,
        "no_leader": True,
    }
    # Its own archiving is rendered as any cluster's: PostgreSQL archives only once promoted (archive_mode on).
    params = config["bootstrap"]["dcs"]["postgresql"]["parameters"]  # type: ignore[index]
    assert params["archive_mode"] == "on"
    assert "--repo1-path" not in params["archive_command"]
    assert "standby_cluster" not in render_patroni_config(inputs())["bootstrap"]["dcs"]  # type: ignore[operator]


def test_a_standby_without_a_repository_or_with_a_bad_prefix_is_refused() -> None:
    no_repo = dataclasses.replace(inputs(standby=StandbySource("pgbackrest-analytics")), pgbackrest_config_path=None)
    with pytest.raises(PatroniConfigError, match="standby: a standby cluster replays the primary's repository"):
        render_patroni_config(no_repo)
    with pytest.raises(ValueError, match="source_prefix = 'pgbackrest/analytics'"):
        render_patroni_config(inputs(standby=StandbySource("pgbackrest/analytics")))


def test_patroni_3_validator_accepts_the_standby_rendering(tmp_path: Path) -> None:
    path = tmp_path / "patroni.yml"
    path.write_text(render_patroni_yml(inputs(standby=StandbySource("pgbackrest-analytics"))))
    result = subprocess.run(["patroni", "--validate-config", str(path)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert [line for line in complaints if "is already in use" not in line] == []
