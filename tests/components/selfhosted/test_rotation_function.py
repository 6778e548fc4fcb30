"""The Patroni credential rotation function's contract checks and steps, against moto's Secrets Manager; the nodes'
acknowledgements are put on the secret as the agents would (their real behaviour is in
tests/real/test_patroni_rotation.py)."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.selfhosted.rotation_function import NODES_VARIABLE
from components.selfhosted.rotation_function import handler as rotation
from tests.secrets_rotation import begin_rotation

REGION = "us-east-1"
NODES = ["analytics-a", "analytics-b", "analytics-c"]
FUNCTION = "cryb-test-analytics-rotation"


@pytest.fixture
def secrets() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def make_secret(secrets: Any, purpose: str = "replication", username: str = "replicator") -> str:
    return secrets.create_secret(
        Name=f"cryb-db/analytics/{purpose}",
        SecretString=json.dumps({"username": username, "password": "FirstPassword000000000000000000000000000"}),
        Tags=[{"Key": "secret-purpose", "Value": purpose}],
    )["ARN"]


def step(secrets: Any, arn: str, token: str, name: str, nodes: list[str] = NODES, sleeps: list | None = None) -> None:
    rotation.rotate(
        {"SecretId": arn, "ClientRequestToken": token, "Step": name},
        secrets,
        nodes,
        sleep=(sleeps if sleeps is not None else []).append,
    )


def acknowledge(secrets: Any, arn: str, token: str, names: list[str]) -> None:
    secrets.tag_resource(SecretId=arn, Tags=[{"Key": f"cryb-rotation-{n}", "Value": token} for n in names])


def stages(secrets: Any, arn: str) -> dict[str, list[str]]:
    return secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]


def test_a_full_rotation_moves_current_once_everyone_acknowledged(secrets: Any) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    pending = json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])
    assert pending["username"] == "replicator" and len(pending["password"]) == rotation.PASSWORD_LENGTH
    assert pending["password"].isalnum()
    step(secrets, arn, token, "createSecret")  # idempotent per token
    again = json.loads(secrets.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"])
    assert again == pending
    acknowledge(secrets, arn, token, [*NODES, "leader"])
    acknowledge(secrets, arn, "an-older-token", ["unrelated"])  # a stale ack of another rotation is dropped too
    for name in ("setSecret", "testSecret", "finishSecret"):
        step(secrets, arn, token, name)
    assert "AWSCURRENT" in stages(secrets, arn)[token]
    tags = {t["Key"] for t in secrets.describe_secret(SecretId=arn)["Tags"]}
    assert tags == {"secret-purpose"}


def test_set_secret_waits_for_the_leader_on_a_database_role_and_names_who_is_missing(
    secrets: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "POLL_ATTEMPTS", 3)
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    acknowledge(secrets, arn, token, NODES)
    sleeps: list[float] = []
    with pytest.raises(rotation.RotationError, match="cryb-rotation-leader after 3 checks"):
        step(secrets, arn, token, "setSecret", sleeps=sleeps)
    assert sleeps == [rotation.POLL_SECONDS] * 2
    # Withdrawn: the agents go back to the current version, which clients still read.
    assert token not in stages(secrets, arn) or stages(secrets, arn)[token] == []


def test_set_secret_returns_as_soon_as_the_last_node_acknowledges(secrets: Any) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    acknowledge(secrets, arn, token, ["analytics-a", "leader"])
    waiting = iter([["analytics-b"], ["analytics-c"]])
    ticks: list[float] = []

    def tick(seconds: float) -> None:  # the other nodes' timers fire while the function sleeps
        ticks.append(seconds)
        acknowledge(secrets, arn, token, next(waiting))

    rotation.rotate({"SecretId": arn, "ClientRequestToken": token, "Step": "setSecret"}, secrets, NODES, sleep=tick)
    assert len(ticks) == 2


def test_the_rest_api_password_needs_no_leader(secrets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rotation, "POLL_ATTEMPTS", 2)
    arn = make_secret(secrets, "restapi", "patroni")
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    acknowledge(secrets, arn, token, NODES)  # every node, no leader tag
    sleeps: list[float] = []
    step(secrets, arn, token, "setSecret", sleeps=sleeps)
    assert sleeps == []  # accepted at the first check, without waiting for a leader
    step(secrets, arn, token, "testSecret")
    assert stages(secrets, arn)[token] == ["AWSPENDING"]  # still pending: testSecret moved nothing
    # The same acknowledgements on a database role are not enough: that one waits for the leader and gives up.
    database = make_secret(secrets, "superuser", "postgres")
    database_token = begin_rotation(database, REGION, FUNCTION)
    step(secrets, database, database_token, "createSecret")
    acknowledge(secrets, database, database_token, NODES)
    with pytest.raises(rotation.RotationError, match="not acknowledged by cryb-rotation-leader after 2 checks"):
        step(secrets, database, database_token, "setSecret")


def test_test_secret_fails_when_a_node_fell_back(secrets: Any) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "createSecret")
    acknowledge(secrets, arn, token, [*NODES, "leader"])
    step(secrets, arn, token, "setSecret")
    acknowledge(secrets, arn, "another-version", ["analytics-b"])
    with pytest.raises(rotation.RotationError, match="no longer acknowledged by cryb-rotation-analytics-b"):
        step(secrets, arn, token, "testSecret")


def test_test_secret_on_an_empty_pending_version_is_the_configuration_test(secrets: Any) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    step(secrets, arn, token, "testSecret")  # no acks needed: nothing was created to acknowledge
    assert stages(secrets, arn)[token] == ["AWSPENDING"]
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):  # testSecret created no value
        secrets.get_secret_value(SecretId=arn, VersionId=token)
    # The same step on a version holding a password, with no node acknowledging it, is a real test and fails.
    step(secrets, arn, token, "createSecret")
    with pytest.raises(rotation.RotationError, match="no longer acknowledged by cryb-rotation-analytics-a"):
        step(secrets, arn, token, "testSecret")


@pytest.mark.parametrize(
    ("event", "nodes", "purpose", "enable", "message"),
    [
        ({"Step": "rollback"}, NODES, "replication", True, "unknown rotation step 'rollback'"),
        ({}, [], "replication", True, "CLUSTER_NODES names no node"),
        ({}, NODES, "pgbackrest", True, "secret-purpose='pgbackrest'"),
        ({}, NODES, "replication", False, "does not have rotation enabled"),
        ({"ClientRequestToken": "not-a-version"}, NODES, "replication", True, "has no version not-a-version"),
    ],
)
def test_contract_checks_refuse_before_touching_anything(
    secrets: Any, event: dict[str, str], nodes: list[str], purpose: str, enable: bool, message: str
) -> None:
    arn = make_secret(secrets, purpose)
    token = begin_rotation(arn, REGION, FUNCTION, enable=enable)
    with pytest.raises(rotation.RotationError, match=message):
        rotation.rotate({"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret", **event}, secrets, nodes)
    assert list(stages(secrets, arn)[token]) == ["AWSPENDING"]
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.get_secret_value(SecretId=arn, VersionId=token)


def test_a_pending_version_for_another_user_is_refused(secrets: Any) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    secrets.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps({"username": "postgres", "password": "x" * 40}),
        VersionStages=["AWSPENDING"],
    )
    with pytest.raises(rotation.RotationError, match="names another user"):
        step(secrets, arn, token, "setSecret")


def test_the_handler_reads_the_nodes_from_its_environment(secrets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = make_secret(secrets)
    token = begin_rotation(arn, REGION, FUNCTION)
    monkeypatch.setenv(NODES_VARIABLE, "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with pytest.raises(rotation.RotationError, match="CLUSTER_NODES names no node"):
        rotation.handler({"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"}, None)
    monkeypatch.setenv(NODES_VARIABLE, ",".join(NODES))
    rotation.handler({"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"}, None)
    assert secrets.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["VersionId"] == token
