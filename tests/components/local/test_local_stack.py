"""The `local` stack (`cryb-db:target: docker`) under the mock engine: what it declares, with which inputs, and
what it exports. Docker never runs here; the inputs are what `pulumi up --stack local` would hand the provider."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from components.config import ConfigError
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from scripts.preview.policy_runner import policy_config_file, run_policies
from tests.helpers import evaluate_with

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
SCHEMA = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())


@pytest.fixture(scope="module")
def local() -> Evaluation:
    return evaluate("local")


def containers(local: Evaluation) -> dict[str, RecordedResource]:
    return {r.name.removeprefix("cryb-local-"): r for r in local.of_type(CONTAINER)}


def test_preview_command_exits_clean() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scripts", "preview", "--stack", "local", "--json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["policy"]["violations"] == []


def test_no_aws_resource_only_docker_and_passwords(local: Evaluation) -> None:
    packages = {r.type.split(":")[0] for r in local.resources}
    assert packages == {"cryb", "docker", "random"}
    (component,) = [r for r in local.resources if r.type.startswith("cryb:")]
    assert component.type == "cryb:local:LocalPlatform"


def test_one_container_per_node_and_moto(local: Evaluation) -> None:
    assert sorted(containers(local)) == sorted(
        [
            "moto",
            *(f"analytics-{n}" for n in "abc"),
            *(f"shard0-{n}" for n in "abc"),
            *(f"cache-s{i}-{role}" for i in range(3) for role in ("master", "replica1")),
        ]
    )


def test_every_container_is_limited_checked_restarted_and_unprivileged(local: Evaluation) -> None:
    for name, container in containers(local).items():
        inputs = container.inputs
        assert inputs["memory"] > 0 and inputs["memorySwap"] == inputs["memory"], name
        assert float(inputs["cpus"]) > 0, name
        assert inputs["healthcheck"]["tests"][0] == "CMD" and len(inputs["healthcheck"]["tests"]) > 1, name
        assert inputs["restart"] == "unless-stopped", name
        assert inputs["privileged"] is False and inputs["networkMode"] == "bridge", name
        assert all(port["ip"] == "127.0.0.1" for port in inputs.get("ports", [])), name


def test_node_containers_run_the_built_image_with_their_own_volume(local: Evaluation) -> None:
    (image,) = local.of_type("docker:index/image:Image")
    assert image.inputs["build"]["dockerfile"].endswith("components/local/image/Dockerfile")
    assert image.inputs["skipPush"] is True
    data_volumes = {r.inputs["name"] for r in local.of_type(VOLUME)}
    for name, container in containers(local).items():
        if name == "moto":
            continue
        assert container.inputs["image"] == image.inputs["imageName"]
        mounted = {v["volumeName"]: v["containerPath"] for v in container.inputs["volumes"]}
        own = f"cryb-local-{name}-data"
        assert own in data_volumes and mounted[own] in ("/data", "/var/lib/cryb-cache"), name


def test_containers_get_rendered_files_and_secrets_only_as_secret_uploads(local: Evaluation) -> None:
    leader = containers(local)["analytics-a"]
    uploads = {u["file"]: u for u in leader.inputs["uploads"]}
    patroni_yml = uploads["/etc/cryb-local/files/etc/patroni/cryb/patroni.yml"]["content"]
    assert "172.28.0." in patroni_yml and "shared_buffers" in patroni_yml
    assert "/etc/cryb-local/files/manifest" in uploads
    secret_uploads = [f for f in uploads if f.startswith("/etc/cryb-local/secrets/")]
    assert {f.rsplit("/", 1)[1] for f in secret_uploads} >= {"superuser", "replication", "admin", "pgbackrest"}
    index = {u["file"]: i for i, u in enumerate(leader.inputs["uploads"])}
    for file in secret_uploads:
        assert f"uploads[{index[file]}].content" in leader.secret_paths, file
        assert uploads[file]["permissions"] == "0600"
    for name, container in containers(local).items():
        env = " ".join(container.inputs.get("envs", []))
        assert "PASSWORD" not in env.upper() and "mock-" not in env, name


def test_memory_parameters_are_scaled_to_the_container(local: Evaluation) -> None:
    uploads = {u["file"]: u["content"] for u in containers(local)["analytics-a"].inputs["uploads"]}
    yml = uploads["/etc/cryb-local/files/etc/patroni/cryb/patroni.yml"]
    # i4i.xlarge (32 GiB) tunes 8 GiB of shared_buffers; a 512 MB container gets the same quarter: 128 MB.
    assert "shared_buffers: '16384'" in yml


def test_only_node_zero_of_the_cache_bootstraps_the_cluster(local: Evaluation) -> None:
    def files(name: str) -> set[str]:
        return {u["file"] for u in containers(local)[name].inputs["uploads"]}

    assert "/etc/cryb-local/files/usr/local/sbin/cryb-cache-bootstrap" in files("cache-s0-master")
    assert "/etc/cryb-local/files/usr/local/sbin/cryb-cache-bootstrap" not in files("cache-s1-master")


def test_outputs_follow_the_contract_where_it_applies(local: Evaluation) -> None:
    outputs = local.masked_outputs()
    assert outputs["credentials"] == "[secret]" and "credentials" in local.secret_outputs
    properties = SCHEMA["properties"]
    postgres_schema = dict(properties["postgres"])
    shard_item = postgres_schema["properties"]["shards"]["items"]
    # docs/local.md: no RDS Proxy and no Secrets Manager ARN in the local stack.
    local_shard = {**shard_item, "required": [k for k in shard_item["required"] if k not in LOCAL_ABSENT]}
    schema = {
        **postgres_schema,
        "properties": {**postgres_schema["properties"], "shards": {"type": "array", "items": local_shard}},
    }
    jsonschema.Draft202012Validator({**schema, "$defs": SCHEMA.get("$defs", {})}).validate(outputs["postgres"])
    shard = outputs["postgres"]["shards"][0]
    assert shard["port"] == shard["nodePorts"][0] and shard["iamAuthentication"] is False
    assert [n["name"] for n in outputs["cache"]["nodes"]] == [
        "s0-master",
        "s1-master",
        "s2-master",
        "s0-replica1",
        "s1-replica1",
        "s2-replica1",
    ]
    assert outputs["awsEndpoint"].startswith("http://127.0.0.1:")


LOCAL_ABSENT = ("proxyEndpoint", "proxyPort", "secretArn")


def test_docker_target_is_refused_in_prod(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cryb-db:target"):
        evaluate_with(tmp_path, "local", {"cryb-db:environment": "prod"})


def test_an_unknown_target_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="target"):
        evaluate_with(tmp_path, "local", {"cryb-db:target": "kubernetes"})


def test_local_policy_config_exists_and_is_clean(local: Evaluation) -> None:
    assert policy_config_file("local").name == "local.json"
    assert run_policies(local, policy_config_file("local")) == []


def test_analytics_falls_back_to_partman_as_a_node_without_timescaledb(local: Evaluation) -> None:
    uploads = {u["file"]: u["content"] for u in containers(local)["analytics-a"].inputs["uploads"]}
    yml = uploads["/etc/cryb-local/files/etc/patroni/cryb/patroni.yml"]
    assert "pg_cron" in yml and "timescaledb" not in yml
    assert uploads["/etc/cryb-local/files/etc/cryb-db/analytics-backend"] == "partman\n"
    shard = {u["file"] for u in containers(local)["shard0-a"].inputs["uploads"]}
    assert "/etc/cryb-local/files/etc/cryb-db/analytics-backend" not in shard


def test_the_cost_estimate_knows_every_local_resource_is_free(local: Evaluation) -> None:
    from scripts.cost.estimate import estimate_evaluation

    estimate = estimate_evaluation(local)
    assert estimate.not_estimated == []
    assert {item.status for item in estimate.items} == {"free"}
    assert sum(item.monthly_usd for item in estimate.items) == 0


# Every way the local stack's exports differ from docs/outputs.schema.json, as (path, schema keyword, keys): the
# same list as docs/local.md's table "Which output keys differ". A new difference, or one that goes away, fails.
OUTPUT_DEVIATIONS = {
    ("", "required", ("alertTopicArns", "backups", "kmsKeyArns", "monitoring", "network")),
    ("", "additionalProperties", ("awsEndpoint", "credentials", "target")),
    ("region", "pattern", ("local",)),
    ("postgres/shards/0", "required", ("proxyEndpoint", "proxyPort", "secretArn")),
    ("cache", "required", ("secretArns", "tlsCaCertSecretArn")),
    ("cache", "additionalProperties", ("hostPorts",)),
    (
        "selfhosted/clusters/0",
        "required",
        ("backup", "backupPrefix", "nodes", "secretArn", "synchronousModeStrict", "timescaledb"),
    ),
    ("selfhosted/clusters/0", "additionalProperties", ("adminUser", "nodePorts")),
}


def schema_deviations(outputs: dict[str, Any]) -> set[tuple[str, str, tuple[str, ...]]]:
    """The schema's complaints about `outputs`, grouped by path and keyword, naming the keys (or the value)."""
    grouped: dict[tuple[str, str], set[str]] = {}
    for error in jsonschema.Draft202012Validator(SCHEMA).iter_errors(outputs):
        path = "/".join(str(part) for part in error.absolute_path)
        if error.validator == "required":
            keys = {str(error.message).split("'")[1]}
        elif error.validator == "additionalProperties":
            keys = set(re.findall(r"'([^']+)'", str(error.message).split("(", 1)[1]))
        else:
            keys = {str(error.instance)}
        grouped.setdefault((path, str(error.validator)), set()).update(keys)
    return {(path, keyword, tuple(sorted(keys))) for (path, keyword), keys in grouped.items()}


def test_the_exports_differ_from_the_outputs_schema_exactly_as_documented(local: Evaluation) -> None:
    assert schema_deviations(local.masked_outputs()) == OUTPUT_DEVIATIONS
    documented = (PROJECT_DIR / "docs" / "local.md").read_text().split("### Which output keys differ", 1)[1]
    for path, _, keys in OUTPUT_DEVIATIONS:
        for key in keys:
            assert f"`{key}`" in documented, f"docs/local.md does not list {path or 'the top level'}: {key}"


def test_the_deviation_check_sees_a_new_difference(local: Evaluation) -> None:
    outputs = json.loads(json.dumps(local.masked_outputs()))
    del outputs["postgres"]["shards"][0]["port"]
    outputs["environment"] = 7
    found = schema_deviations(outputs) - OUTPUT_DEVIATIONS
    assert ("postgres/shards/0", "required", ("port", "proxyEndpoint", "proxyPort", "secretArn")) in found
    assert ("environment", "enum", ("7",)) in found
