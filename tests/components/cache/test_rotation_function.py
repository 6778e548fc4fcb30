"""The ElastiCache user rotation Lambda through the four Secrets Manager steps: Secrets Manager is moto in-process,
ElastiCache is a botocore Stubber (moto 5.2.5 has CreateUser and DescribeUsers but no ModifyUser), so every
ElastiCache call and its exact parameters are asserted."""

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from components.cache.rotation_function import HANDLER, HANDLER_FILE, PACKAGE_FILES
from components.cache.rotation_function import handler as rotation
from tests.secrets_rotation import begin_rotation

REGION = "us-east-1"
USER_ID = "cryb-prod-cache-app"
FIRST_PASSWORD = "FirstPulumiPassword0000000000000000000000"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
OWN = {"components.rotation.steps"}


@dataclass
class Rig:
    secrets: Any
    elasticache: Any
    stub: Stubber
    arn: str
    modify_calls: list[dict[str, Any]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def value(self, stage: str, token: str | None = None) -> dict[str, Any]:
        request = {"SecretId": self.arn, "VersionStage": stage} | ({"VersionId": token} if token else {})
        return json.loads(self.secrets.get_secret_value(**request)["SecretString"])

    def stages(self) -> dict[str, list[str]]:
        return self.secrets.describe_secret(SecretId=self.arn)["VersionIdsToStages"]

    def begin(self, token: str | None = None, enable: bool = True) -> str:
        """What RotateSecret does before it invokes the function: rotation on, the token staged AWSPENDING with no
        value yet. Done on moto's backend because moto's own RotateSecret without a function finishes the
        rotation itself."""
        return begin_rotation(self.arn, REGION, "cryb-prod-cache-rotation", token, enable)

    def step(self, step: str, token: str) -> None:
        rotation.rotate(
            {"SecretId": self.arn, "ClientRequestToken": token, "Step": step},
            self.secrets,
            self.elasticache,
            sleep=self.sleeps.append,
        )

    def user(self, status: str, password_count: int = 1) -> None:
        self.stub.add_response(
            "describe_users",
            {
                "Users": [
                    {
                        "UserId": USER_ID,
                        "UserName": "app",
                        "Status": status,
                        "Engine": "valkey",
                        "AccessString": "on ~* &* +@all -@dangerous",
                        "Authentication": {"Type": "password", "PasswordCount": password_count},
                        "ARN": f"arn:aws:elasticache:{REGION}:{DEFAULT_ACCOUNT_ID}:user:{USER_ID}",
                    }
                ]
            },
            {"UserId": USER_ID},
        )

    def expect_set(self, passwords: list[str]) -> None:
        """setSecret: active before, ModifyUser with exactly these passwords, `modifying` once, then active."""
        self.user("active")
        self.stub.add_response(
            "modify_user", {"UserId": USER_ID, "Status": "modifying"}, {"UserId": USER_ID, "Passwords": passwords}
        )
        self.user("modifying", 2)
        self.user("active", 2)

    def rotate_fully(self) -> tuple[str, str]:
        """One whole rotation; returns (old, new) password."""
        old = self.value("AWSCURRENT")["password"]
        token = self.begin()
        self.step("createSecret", token)
        new = self.value("AWSPENDING", token)["password"]
        self.expect_set([new, old])
        self.step("setSecret", token)
        self.user("active", 2)
        self.step("testSecret", token)
        self.step("finishSecret", token)
        self.stub.assert_no_pending_responses()
        return old, new


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn = secrets.create_secret(
            Name="cryb-db/cryb-prod-cache/app-test",
            SecretString=json.dumps({"username": "app", "password": FIRST_PASSWORD, "userId": USER_ID}),
        )["ARN"]
        elasticache = boto3.client("elasticache", region_name=REGION)
        rig = Rig(secrets, elasticache, Stubber(elasticache), arn)
        elasticache.meta.events.register(
            "provide-client-params.elasticache.ModifyUser", lambda params, **_: rig.modify_calls.append(dict(params))
        )
        with rig.stub:
            yield rig


def test_a_rotation_gives_the_user_both_passwords_then_makes_the_new_one_current(rig: Rig) -> None:
    old, new = rig.rotate_fully()
    assert old == FIRST_PASSWORD and new != old
    current = rig.value("AWSCURRENT")
    assert current == {"username": "app", "password": new, "userId": USER_ID}
    assert rig.value("AWSPREVIOUS")["password"] == old
    assert len(new) >= 32 and new.isalnum()  # punctuation excluded: safe in URLs, shells and redis.conf
    assert rig.modify_calls == [{"UserId": USER_ID, "Passwords": [new, old]}]
    # exactly one AWSCURRENT; AWSPENDING stays on it until Secrets Manager itself clears it after the last step
    assert [set(stages) for stages in rig.stages().values() if "AWSCURRENT" in stages] == [{"AWSCURRENT", "AWSPENDING"}]
    assert rig.sleeps == [rotation.POLL_SECONDS]  # waited once while the user was `modifying`


def test_a_second_rotation_drops_the_oldest_password(rig: Rig) -> None:
    first, second = rig.rotate_fully()
    previous, third = rig.rotate_fully()
    assert previous == second and len({first, second, third}) == 3
    assert rig.modify_calls[-1] == {"UserId": USER_ID, "Passwords": [third, second]}
    assert first not in rig.modify_calls[-1]["Passwords"]


def test_create_secret_is_idempotent_for_the_same_token(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    token = rig.begin()
    rig.step("createSecret", token)
    pending = rig.value("AWSPENDING", token)
    generated: list[Any] = []
    real = rig.secrets.get_random_password
    monkeypatch.setattr(rig.secrets, "get_random_password", lambda **kw: generated.append(kw) or real(**kw))
    rig.step("createSecret", token)  # Secrets Manager retries a step after a timeout
    assert rig.value("AWSPENDING", token) == pending and generated == []
    assert rig.value("AWSCURRENT")["password"] == FIRST_PASSWORD


def test_a_token_not_staged_pending_is_refused(rig: Rig) -> None:
    token = rig.begin()
    rig.step("createSecret", token)
    rig.expect_set([rig.value("AWSPENDING", token)["password"], FIRST_PASSWORD])
    rig.step("setSecret", token)
    # Another rotation moved AWSPENDING on: the old token may no longer act.
    rig.begin()
    for step in STEPS:
        with pytest.raises(rotation.RotationError, match="not staged AWSPENDING"):
            rig.step(step, token)
    with pytest.raises(rotation.RotationError, match="has no version"):
        rig.step("createSecret", str(uuid.uuid4()))
    rig.stub.assert_no_pending_responses()


def test_rotation_disabled_is_refused(rig: Rig) -> None:
    token = rig.begin(enable=False)
    with pytest.raises(rotation.RotationError, match="does not have rotation enabled"):
        rig.step("createSecret", token)
    assert "AWSPENDING" in rig.stages()[token] and rig.value("AWSCURRENT")["password"] == FIRST_PASSWORD


def test_an_unknown_step_is_refused(rig: Rig) -> None:
    with pytest.raises(rotation.RotationError, match="unknown rotation step"):
        rig.step("rotateEverything", rig.begin())


def test_steps_on_the_current_version_do_nothing(rig: Rig) -> None:
    (current,) = [v for v, stages in rig.stages().items() if "AWSCURRENT" in stages]
    rig.begin()  # no stub responses are queued: any ElastiCache call would fail the test
    for step in STEPS:
        rig.step(step, current)
    assert rig.value("AWSCURRENT")["password"] == FIRST_PASSWORD and rig.modify_calls == []


def test_set_secret_polls_a_bounded_number_of_times(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rotation, "POLL_ATTEMPTS", 3)
    token = rig.begin()
    rig.step("createSecret", token)
    rig.user("active")
    rig.stub.add_response("modify_user", {"UserId": USER_ID, "Status": "modifying"})
    for _ in range(3):
        rig.user("modifying", 2)
    with pytest.raises(rotation.RotationError, match="still 'modifying' after 3 checks"):
        rig.step("setSecret", token)
    assert rig.sleeps == [rotation.POLL_SECONDS] * 2
    rig.stub.assert_no_pending_responses()


def test_test_secret_refuses_a_user_without_both_passwords(rig: Rig) -> None:
    token = rig.begin()
    rig.step("createSecret", token)
    rig.user("active", 1)
    with pytest.raises(rotation.RotationError, match="has 1 passwords, expected 2"):
        rig.step("testSecret", token)
    rig.user("modifying", 2)
    with pytest.raises(rotation.RotationError, match="not active"):
        rig.step("testSecret", token)


def test_a_secret_without_user_id_fails_without_quoting_it(rig: Rig) -> None:
    rig.secrets.put_secret_value(
        SecretId=rig.arn, SecretString=json.dumps({"username": "app", "password": FIRST_PASSWORD})
    )
    token = rig.begin()
    with pytest.raises(rotation.RotationError, match="lacks userId") as caught:
        rig.step("createSecret", token)
    assert FIRST_PASSWORD not in str(caught.value)
    rig.secrets.put_secret_value(SecretId=rig.arn, SecretString=f"not json {FIRST_PASSWORD}")
    with pytest.raises(rotation.RotationError, match="not a JSON") as caught:
        rig.step("createSecret", rig.begin())
    assert FIRST_PASSWORD not in str(caught.value) and caught.value.__cause__ is None


def test_nothing_secret_reaches_the_logs(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(rotation, "clients", lambda: (rig.secrets, rig.elasticache))
    token = rig.begin()
    event = {"SecretId": rig.arn, "ClientRequestToken": token}
    rotation.handler({**event, "Step": "createSecret"}, None)  # the Lambda entry point
    new = rig.value("AWSPENDING", token)["password"]
    rig.user("active")
    rig.stub.add_response(
        "modify_user", {"UserId": USER_ID, "Status": "active"}, {"UserId": USER_ID, "Passwords": [new, FIRST_PASSWORD]}
    )
    rig.user("active", 2)
    rig.user("active", 2)
    for step in STEPS[1:]:
        rotation.handler({**event, "Step": step}, None)
    assert rig.value("AWSCURRENT")["password"] == new
    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    assert "finishSecret" in caplog.text and USER_ID in caplog.text  # the steps are logged ...
    for value in (new, FIRST_PASSWORD, json.dumps(rig.value("AWSCURRENT"))):
        assert value not in text  # ... their secrets are not
    assert all(record.levelno < logging.WARNING for record in caplog.records)


def test_the_package_is_the_handler_and_the_shared_steps() -> None:
    assert HANDLER == "components.cache.rotation_function.handler.handler" and HANDLER_FILE.name == "handler.py"
    for path in PACKAGE_FILES:
        source = path.read_text()
        lines = source.splitlines()
        imports = {line.split()[1] for line in lines if line.startswith(("import ", "from "))}
        # stdlib, boto3 and the archive's own modules only: the python3.12 runtime has nothing else
        assert imports <= {"json", "logging", "time", "collections.abc", "typing", "pathlib", "boto3", *OWN}, path
