"""The local platform's pure parts: the stack it evaluates, outputs.local.json, the state file, the preflight."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from scripts.local.outputs import LocalCacheNode, LocalShard, local_outputs, validate, write_outputs
from scripts.local.preflight import NODE_PACKAGES, problems, stack_problem
from scripts.local.stack import LOCAL_SHARDS, evaluate_local, local_config
from scripts.local.state import NodeState, State, alive, read_state, write_state
from scripts.local.supervisor import PostgresPlan, application_address, postgres_plans
from scripts.preview.mock_engine import stack_file_path


@pytest.fixture(scope="module")
def preview() -> dict[str, Any]:
    return evaluate_local("dev").outputs


@pytest.fixture(scope="module")
def prod_local() -> Any:
    return evaluate_local("prod")


def _local(preview: dict[str, Any]) -> dict[str, Any]:
    shards = [LocalShard("cryb-dev-pg-00", "127.1.0.1", "127.1.0.2", [("cryb-dev-pg-00-node-a", "127.0.25.171")])]
    nodes = [LocalCacheNode(n["name"], f"127.0.21.{i + 1}") for i, n in enumerate(preview["cache"]["nodes"])]
    return local_outputs(preview, shards, nodes)


def test_the_local_config_switches_both_engines_and_keeps_the_stack_valid() -> None:
    document = yaml.safe_load(stack_file_path("dev").read_text())
    before = copy.deepcopy(document)
    config = local_config(document)["config"]
    assert document == before  # the input is not changed
    postgres = config["cryb-db:postgres"]
    assert postgres["engine"] == "ec2" and postgres["ec2"]["nodeCount"] == 3
    assert "instanceClass" not in postgres and "readReplicas" not in postgres  # RDS-only keys are errors with ec2
    assert postgres["shardCount"] == document["config"]["cryb-db:postgres"]["shardCount"]
    assert config["cryb-db:network"]["azCount"] == 3 and config["cryb-db:network"]["interfaceEndpoints"] is True
    assert config["cryb-db:cache"]["engine"] == "ec2" and config["cryb-db:cache"]["shards"] == 3


def test_the_local_preview_has_patroni_shards_and_six_cache_nodes(preview: dict[str, Any]) -> None:
    assert preview["postgres"]["engine"] == "patroni-postgresql"
    assert len(preview["cache"]["nodes"]) == 6
    assert sorted(n["name"] for n in preview["cache"]["nodes"]) == sorted(
        f"s{s}-{r}" for s in range(3) for r in ("master", "replica1")
    )


def test_outputs_point_at_this_machine_and_validate(preview: dict[str, Any], tmp_path: Path) -> None:
    outputs = _local(preview)
    shard = outputs["postgres"]["shards"][0]
    assert shard["writerEndpoint"] == shard["proxyEndpoint"] == "127.1.0.1"
    assert shard["readerEndpoints"] == ["127.1.0.2"]
    assert shard["secretArn"] == preview["postgres"]["shards"][0]["secretArn"]  # seeded in the local moto
    assert all(n["address"].startswith("127.0.21.") for n in outputs["cache"]["nodes"])
    assert preview["postgres"]["shards"][0]["writerEndpoint"] != "127.1.0.1"  # the preview itself is unchanged
    path = tmp_path / "outputs.local.json"
    write_outputs(outputs, path)
    validate(json.loads(path.read_text()))


def test_outputs_that_break_the_contract_are_refused(preview: dict[str, Any], tmp_path: Path) -> None:
    outputs = _local(preview)
    outputs["postgres"]["shards"][0]["port"] = "5433"
    with pytest.raises(jsonschema.ValidationError):
        write_outputs(outputs, tmp_path / "outputs.local.json")
    assert not (tmp_path / "outputs.local.json").exists()


def test_outputs_refuse_a_shard_or_cache_node_the_platform_does_not_run(preview: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="no such shard"):
        local_outputs(preview, [], [])
    shards = [LocalShard("cryb-dev-pg-00", "127.1.0.1", "127.1.0.2", [])]
    with pytest.raises(ValueError, match="cache nodes differ"):
        local_outputs(preview, shards, [LocalCacheNode("s0-master", "127.0.21.1")])


def test_the_state_file_round_trips_and_a_dead_supervisor_is_not_alive(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_state(path) is None
    state = State(pid=os.getpid(), stack="dev", phase="up", environment={"AWS_ENDPOINT_URL": "https://localhost:1"})
    state.nodes.append(NodeState("n", "c", "postgres", "127.0.1.2", 5433, "ns", ["/x"], "booted", 1.5, "leader", True))
    write_state(state, path)
    assert read_state(path) == state
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left
    assert alive(os.getpid())
    child = subprocess.Popen(["true"])
    child.wait()
    assert not alive(child.pid)


def test_preflight_names_root_and_the_apt_get_line() -> None:
    found = problems(euid=1000, is_installed=lambda package: package not in ("patroni", "jq"))
    assert len(found) == 2
    assert "needs root" in found[0]
    assert found[1] == "missing Debian packages: apt-get install -y patroni jq"
    assert problems(euid=0, is_installed=lambda package: True) == []
    assert "redis-server" in NODE_PACKAGES and "etcd-server" in NODE_PACKAGES


def test_the_application_address_is_the_vpc_cidrs_last_usable_one() -> None:
    assert str(application_address("10.30.0.0/16")) == "10.30.255.254"
    assert str(application_address("10.98.0.0/20")) == "10.98.15.254"


def test_prod_runs_locally_with_one_shard_and_its_analytics_cluster_as_declared() -> None:
    document = yaml.safe_load(stack_file_path("prod").read_text())
    config = local_config(document)["config"]
    assert LOCAL_SHARDS == 1
    assert "shardCount" not in document["config"]["cryb-db:postgres"]  # prod runs the default: 4 shards
    assert config["cryb-db:postgres"]["shardCount"] == 1
    assert config["cryb-db:selfhosted"]["clusters"] == document["config"]["cryb-db:selfhosted"]["clusters"]


def test_the_platform_boots_the_shard_then_the_analytics_cluster_on_addresses_of_their_own(prod_local: Any) -> None:
    assert postgres_plans(prod_local) == [
        PostgresPlan("postgres", "cryb-prod-pg-00", "cryb-prod-pg-00", 5433, "127.1.0.1", "127.1.0.2"),
        PostgresPlan("selfhosted", "analytics", "cryb-prod-analytics", 5432, "127.2.0.1", "127.2.0.2"),
    ]
    assert prod_local.outputs["postgres"]["shardMap"]["ranges"] == [{"shard": 0, "first": 0, "last": 1023}]


def test_outputs_point_the_analytics_cluster_at_this_machine_and_validate(prod_local: Any, tmp_path: Path) -> None:
    preview = prod_local.outputs
    shards = [LocalShard("cryb-prod-pg-00", "127.1.0.1", "127.1.0.2", [])]
    nodes = [LocalCacheNode(n["name"], f"127.0.21.{i + 1}") for i, n in enumerate(preview["cache"]["nodes"])]
    members = [(f"cryb-prod-analytics-node-{k}", f"127.0.30.{i}") for i, k in enumerate("abc", start=151)]
    analytics = LocalShard("analytics", "127.2.0.1", "127.2.0.2", members)
    outputs = local_outputs(preview, shards, nodes, [analytics])
    (cluster,) = outputs["selfhosted"]["clusters"]
    assert cluster["writerEndpoint"] == "127.2.0.1" and cluster["readerEndpoints"] == ["127.2.0.2"]
    assert [(n["name"], n["address"]) for n in cluster["nodes"]] == [
        ("analytics-a", "127.0.30.151"), ("analytics-b", "127.0.30.152"), ("analytics-c", "127.0.30.153"),
    ]  # fmt: skip
    assert cluster["secretArn"] == preview["selfhosted"]["clusters"][0]["secretArn"]  # seeded in the local moto
    write_outputs(outputs, tmp_path / "outputs.local.json")  # validates against the contract
    with pytest.raises(ValueError, match=r"selfhosted.clusters\[analytics\]: the local platform runs no such"):
        local_outputs(preview, shards, nodes, [])
    with pytest.raises(ValueError, match="no local node for analytics-c"):
        local_outputs(preview, shards, nodes, [LocalShard("analytics", "127.2.0.1", "127.2.0.2", members[:2])])


def test_up_refuses_a_stack_it_cannot_boot_in_one_line(tmp_path: Path) -> None:
    assert stack_problem("dev") is None and stack_problem("prod") is None
    assert stack_problem("staging") == "--stack 'staging': no Pulumi.staging.yaml (stacks: dev, local, prod)"
    docker = stack_problem("local")
    assert docker is not None and docker.startswith("--stack 'local': cryb-db:target is 'docker'")
    broken = tmp_path / "Pulumi.dev.yaml"
    broken.write_text("config: [unclosed")
    assert (stack_problem("dev", broken) or "").startswith("Pulumi.dev.yaml: not YAML")


def test_up_with_another_stack_while_one_is_up_is_one_line_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from scripts.local import command

    state_file = tmp_path / "state.json"
    write_state(State(pid=os.getpid(), stack="dev", phase="up"), state_file)  # a live supervisor: this process
    monkeypatch.setattr(command, "STATE_FILE", state_file)
    other = CliRunner().invoke(command.local_app, ["up", "--stack", "prod"])
    assert other.exit_code == 2
    assert other.output.strip() == "error: already up with stack dev, not prod: `local down` first"
    same = CliRunner().invoke(command.local_app, ["up", "--stack", "dev"])
    assert same.exit_code == 0 and "already up (stack dev" in same.output
    assert read_state(state_file) == State(pid=os.getpid(), stack="dev", phase="up")  # nothing started or changed
