"""The rotation function of the self-hosted cache's ACL users (components/cache/node_rotation_function/handler.py)
against moto's Secrets Manager: the node-acknowledged steps it shares with the Patroni clusters' function
(components/rotation/acknowledged.py), with the cache's users and nodes. The function with the real nodes:
tests/real/sandbox/test_cache_nodes.py."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pytest
from moto import mock_aws

from components.cache.node_rotation_function import PACKAGE_FILES
from components.cache.node_rotation_function import handler as rotation
from components.rotation.function import function_archive
from tests.secrets_rotation import begin_rotation

REGION = "us-east-1"
NODES = ["s0-master", "s1-master", "s0-replica1", "s1-replica1"]
FUNCTION = "cryb-test-cache-rotation"


@pytest.fixture
def secrets() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def make_secret(secrets: Any, user: str = "app") -> str:
    return secrets.create_secret(
        Name=f"cryb-db/cache/{user}",
        SecretString=json.dumps({"username": user, "password": "FirstPassword000000000000000000000000000"}),
        Tags=[{"Key": "cache-user", "Value": user}],
    )["ARN"]


def step(secrets: Any, arn: str, token: str, name: str, sleep: Any = None) -> None:
    rotation.rotate({"SecretId": arn, "ClientRequestToken": token, "Step": name}, secrets, NODES,
                    sleep=sleep or (lambda _s: None))  # fmt: skip


def acknowledge(secrets: Any, arn: str, token: str, nodes: list[str]) -> None:
    secrets.tag_resource(SecretId=arn, Tags=[{"Key": f"cryb-rotation-{n}", "Value": token} for n in nodes])


def test_the_current_version_moves_only_after_every_node_accepts_the_new_password(secrets: Any) -> None:
    arn = make_secret(secrets, "replicator")
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    pending = json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])
    assert pending["username"] == "replicator" and len(pending["password"]) == 40 and pending["password"].isalnum()
    ticks: list[float] = []

    def tick(seconds: float) -> None:  # the nodes' agents: two of them per tick
        ticks.append(seconds)
        done = len(ticks) * 2
        acknowledge(secrets, arn, token, NODES[done - 2 : done])

    step(secrets, arn, token, "setSecret", tick)
    assert ticks == [rotation.POLL_SECONDS] * 2  # returned at the first check that found all four
    step(secrets, arn, token, "testSecret")
    assert "AWSCURRENT" not in secrets.describe_secret(SecretId=arn)["VersionIdsToStages"][token]
    step(secrets, arn, token, "finishSecret")
    described = secrets.describe_secret(SecretId=arn)
    assert "AWSCURRENT" in described["VersionIdsToStages"][token]
    assert json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]) == pending
    assert not [t for t in described.get("Tags", []) if t["Key"].startswith("cryb-rotation-")]
    assert {t["Key"] for t in described["Tags"]} == {"cache-user"}


def test_a_node_that_never_accepts_makes_set_withdraw_the_pending_version(
    secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    monkeypatch.setattr(rotation, "POLL_ATTEMPTS", 3)
    acknowledge(secrets, arn, token, NODES[:-1])
    with pytest.raises(rotation.RotationError, match=r"not acknowledged by cryb-rotation-s1-replica1 after 3 checks"):
        step(secrets, arn, token, "setSecret")
    assert "AWSPENDING" not in secrets.describe_secret(SecretId=arn)["VersionIdsToStages"][token]


def test_a_node_that_fell_back_fails_the_test_step(secrets: Any) -> None:
    arn = make_secret(secrets, "admin")
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    acknowledge(secrets, arn, token, NODES)
    step(secrets, arn, token, "setSecret")
    secrets.tag_resource(SecretId=arn, Tags=[{"Key": "cryb-rotation-s0-master", "Value": "an-older-version"}])
    with pytest.raises(rotation.RotationError, match="no longer acknowledged by cryb-rotation-s0-master"):
        step(secrets, arn, token, "testSecret")


@pytest.mark.parametrize(
    ("tags", "message"),
    [({"cache-user": "default"}, "cache-user='default'"), ({}, "cache-user=None")],
)
def test_only_the_cache_users_secrets_are_rotated(secrets: Any, tags: dict[str, str], message: str) -> None:
    arn = secrets.create_secret(
        Name="other", SecretString=json.dumps({"username": "u", "password": "p" * 40}),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )["ARN"]  # fmt: skip
    token = begin_rotation(arn, REGION, FUNCTION)
    with pytest.raises(rotation.RotationError, match=message):
        step(secrets, arn, token, "createSecret")
    assert "AWSPENDING" in secrets.describe_secret(SecretId=arn)["VersionIdsToStages"][token]
    with pytest.raises(rotation.RotationError, match="names no node"):
        rotation.rotate({"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"}, secrets, [])


def test_the_archive_alone_imports_the_handler(tmp_path: Path) -> None:
    """What Lambda runs: the archive's files only, no repository on the path."""
    import subprocess
    import sys

    archive = function_archive(PACKAGE_FILES)
    for name, asset in archive.assets.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(asset, pulumi.StringAsset):
            target.write_text(asset.text)
        else:
            assert isinstance(asset, pulumi.FileAsset)
            target.write_text(Path(asset.path).read_text())
    probe = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import importlib; "
        "m = importlib.import_module('components.cache.node_rotation_function.handler'); "
        "print(callable(m.handler), sorted(n for n in sys.modules if n.startswith('components')))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True") and "components.rotation.acknowledged" in result.stdout
