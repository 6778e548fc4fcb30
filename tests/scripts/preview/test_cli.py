"""`python -m scripts preview`: the main job, run as users run it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import PROJECT_DIR
from tests.helpers import write_config


def run_preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", "preview", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def prod_json() -> dict:
    done = run_preview("--stack", "prod", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # exactly one JSON document on stdout


def test_json_has_the_documented_shape(prod_json: dict) -> None:
    assert set(prod_json) >= {"stack", "resources", "outputs", "policy"}
    assert prod_json["stack"] == "prod"
    assert isinstance(prod_json["policy"]["violations"], list)
    for resource in prod_json["resources"]:
        assert set(resource) >= {"type", "name", "parent", "inputs"}
        assert resource["parent"] is None or isinstance(resource["parent"], str)
    for violation in prod_json["policy"]["violations"]:
        assert set(violation) >= {"policy", "level", "resource", "message"}
        assert violation["level"] in ("mandatory", "advisory")


def test_json_holds_the_whole_network(prod_json: dict) -> None:
    types = [r["type"] for r in prod_json["resources"]]
    for type_token, minimum in {
        "aws:ec2/vpc:Vpc": 1,
        "aws:ec2/subnet:Subnet": 9,
        "aws:ec2/routeTable:RouteTable": 5,
        "aws:ec2/natGateway:NatGateway": 3,
        "aws:ec2/securityGroup:SecurityGroup": 5,
        "aws:ec2/flowLog:FlowLog": 1,
        "aws:ec2/vpcEndpoint:VpcEndpoint": 6,
        "aws:kms/key:Key": 2,
    }.items():
        assert types.count(type_token) >= minimum, type_token
    assert prod_json["outputs"]["network"]["dataSubnetIds"]


def test_text_shows_tree_outputs_and_policy_report() -> None:
    done = run_preview("--stack", "dev")
    assert done.returncode == 0, done.stderr
    assert "cryb-dev cryb:network:Network" in done.stdout
    assert "aws:ec2/subnet:Subnet x6" in done.stdout
    assert "Stack outputs (secrets masked)" in done.stdout
    assert "Policy report" in done.stdout


def test_wrong_config_exits_non_zero_naming_the_key(tmp_path: Path) -> None:
    bad = write_config(tmp_path, "prod", {"cryb-db:network": {"azCount": 2, "cidr": "10.20.0.0/16"}})
    done = run_preview("--stack", "prod", "--config", str(bad), "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout) == {
        "error": {
            "kind": "invalid-config",
            "message": "invalid stack config:\n  - cryb-db:network.azCount = 2: must be 3 in prod",
            "exitCode": 2,
            "problems": ["cryb-db:network.azCount = 2: must be 3 in prod"],
        }
    }
    assert "  - cryb-db:network.azCount = 2: must be 3 in prod\n" in done.stderr


def test_unknown_stack_exits_non_zero() -> None:
    done = run_preview("--stack", "staging-eu")
    assert done.returncode == 2
    assert "Pulumi.staging-eu.yaml" in done.stderr


CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# Maps whose keys are data (resource inputs as AWS spells them, component names, type tokens, regions, violations'
# resource names), not keys of the document's own.
DATA_MAPS = ("resources[].inputs", "cost.byComponent", "cost.byType", "cost.byRegion", "cost.priceTables")


def own_keys(value: object, path: str = "") -> list[str]:
    if path in DATA_MAPS:
        return []
    if isinstance(value, dict):
        keys = []
        for key, inner in value.items():
            here = f"{path}.{key}" if path else key
            keys += [here, *own_keys(inner, here)]
        return keys
    if isinstance(value, list):
        return [k for inner in value for k in own_keys(inner, f"{path}[]")]
    return []


def test_json_keys_are_camel_case_like_the_stack_outputs() -> None:
    done = run_preview("--stack", "dev", "--json")
    assert done.returncode == 0, done.stderr
    keys = own_keys(json.loads(done.stdout))
    assert "cost.totalMonthlyUsd" in keys and "cost.items[].unitPrice" in keys
    assert [k for k in keys if not CAMEL.match(k.rsplit(".", 1)[-1])] == []


def test_plaintext_secret_exits_2_naming_the_key_and_the_command_never_the_value(tmp_path: Path) -> None:
    url = "https://events.pagerduty.com/integration/PLAINTEXT-KEY-42/enqueue"
    bad = write_config(tmp_path, "prod", {"cryb-db:monitoring": {"pagerdutyIntegrationUrl": url}})
    done = run_preview("--stack", "prod", "--config", str(bad), "--json")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())  # rich wraps long lines
    assert "cryb-db:monitoring.pagerdutyIntegrationUrl: a secret" in message
    assert "pulumi config set --path --secret 'cryb-db:monitoring.pagerdutyIntegrationUrl'" in message
    assert "PLAINTEXT-KEY-42" not in done.stderr + done.stdout


def test_malformed_cache_node_type_exits_2_naming_the_key(tmp_path: Path) -> None:
    cache = {"shards": 1, "nodeType": "cache.t4g.zz", "ec2InstanceType": "t4g.small"}
    bad = write_config(tmp_path, "dev", {"cryb-db:cache": cache})
    done = run_preview("--stack", "dev", "--config", str(bad))
    assert done.returncode == 2, done.stderr
    assert "cryb-db:cache.nodeType = 'cache.t4g.zz'" in " ".join(done.stderr.split())
