"""CacheUserRotation under the mock engine: a tiny program declares the component alone, and the real program is
checked for the policy pack and for the drift options the Cache sets on what rotation owns (recorded by a monitor that
also keeps `ignoreChanges`)."""

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.cache.rotation_function import HANDLER_FILE
from scripts import PROJECT_DIR
from scripts.preview import mock_engine
from scripts.preview.mock_engine import MOCK_ACCOUNT_ID, Evaluation, RecordedResource, evaluate
from tests.helpers import OptionsMonitor, evaluate_with_ignore_changes, write_config

NAME = "cryb-test-rotation"
TAGS = {"environment": "prod", "service": "cryb-db", "owner": "platform-team", "data-classification": "confidential"}
USER_ARNS = {u: f"arn:aws:elasticache:us-east-1:{MOCK_ACCOUNT_ID}:user:cryb-test-cache-{u}" for u in ("app", "reader")}
SECRETS_KEY = f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT_ID}:key/secrets"
LOGS_KEY = f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT_ID}:key/logs"
ARTIFACTS_KEY = f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT_ID}:key/artifacts"

PROGRAM = """
import pulumi
import pulumi_aws as aws
from components.cache.rotation import CacheUserRotation
from components.signing import CodeSigning

signing = CodeSigning(
    "signing",
    {{"account_id": "{account}", "region": "us-east-1", "kms_key_arn": "{artifacts_key}",
      "access_log_retention_days": 365, "tags": {tags!r}}},
)
secrets = {{user: aws.secretsmanager.Secret(f"secret-{{user}}", kms_key_id="{secrets_key}", tags={tags!r})
            for user in ("app", "reader")}}
rotation = CacheUserRotation(
    "{name}",
    {{
        "secret_arns": {{user: s.arn for user, s in secrets.items()}},
        "user_arns": {user_arns!r},
        "secrets_kms_key_arn": "{secrets_key}",
        "logs_kms_key_arn": "{logs_key}",
        "log_retention_days": 365,
        {extra}
        "vpc_id": "vpc-123",
        "subnet_ids": ["subnet-app-a", "subnet-app-b"],
        "rotate_after": list(secrets.values()),
        "region": "us-east-1",
        "account_id": "{account}",
        "code_signing": signing,
        "tags": {tags!r},
    }},
)
pulumi.export("functionArn", rotation.function_arn)
"""


FUNCTION = "aws:lambda/function:Function"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
PERMISSION = "aws:lambda/permission:Permission"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SIGNING_JOB = "aws:signer/signingJob:SigningJob"
PACKAGE = "aws:s3/bucketObjectv2:BucketObjectv2"
UNTAGGABLE = {ROLE_POLICY, PERMISSION, ROTATION, SIGNING_JOB}
REQUIRED_TAGS = ("environment", "service", "owner", "data-classification")


def program(extra: str = "") -> str:
    return textwrap.dedent(PROGRAM).format(
        name=NAME,
        tags=TAGS,
        user_arns=USER_ARNS,
        secrets_key=SECRETS_KEY,
        logs_key=LOGS_KEY,
        artifacts_key=ARTIFACTS_KEY,
        account=MOCK_ACCOUNT_ID,
        extra=extra,
    )


def run_program(directory: Path, text: str, stack: str = "prod", config: Path | None = None) -> Evaluation:
    (directory / "__main__.py").write_text(text)
    return evaluate(stack, config, program_dir=directory)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    return run_program(tmp_path_factory.mktemp("rotation-program"), program())


def component(evaluation: Evaluation) -> RecordedResource:
    (root,) = evaluation.of_type("cryb:cache_rotation:CacheUserRotation")
    return root


def children(evaluation: Evaluation) -> list[RecordedResource]:
    return evaluation.children(component(evaluation).urn)


def one(evaluation: Evaluation, type_token: str) -> RecordedResource:
    (resource,) = [r for r in children(evaluation) if r.type == type_token]
    return resource


def statements(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(one(evaluation, ROLE_POLICY).inputs["policy"])["Statement"]}


# -- the component alone -------------------------------------------------------------------------------------------
def test_children_are_parented_named_and_tagged(small: Evaluation) -> None:
    root = component(small)
    assert root.name == NAME
    found = children(small)
    assert {r.type for r in found} >= {FUNCTION, ROTATION, PERMISSION, ROLE_POLICY}
    assert all(r.name.startswith(f"{NAME}-") for r in found)
    for child in found:
        if child.type not in UNTAGGABLE:
            tags = child.inputs.get("tags") or {}
            assert all(tags.get(k) for k in REQUIRED_TAGS), f"{child.type} {child.name}: {tags}"
    # every resource of the component hangs directly under it
    ours = [r for r in small.resources if any(a.urn == root.urn for a in small.ancestors(r))]
    assert sorted(r.urn for r in ours) == sorted(r.urn for r in found)


def test_function_is_packaged_from_this_repo_traced_capped_and_in_the_vpc(small: Evaluation) -> None:
    inputs = one(small, FUNCTION).inputs
    # the function runs the signed copy of the package uploaded beside it (components/signing)
    assert "code" not in inputs and inputs["s3Key"].startswith(f"signed/{NAME}-function/")
    assert inputs["codeSigningConfigArn"].startswith("arn:aws:lambda:us-east-1:")
    assets = one(small, PACKAGE).inputs["source"]["assets"]
    assert (PROJECT_DIR / assets["components/cache/rotation_function/handler.py"]["path"]).resolve() == HANDLER_FILE
    assert sorted(assets) == [
        "components/__init__.py",
        "components/cache/__init__.py",
        "components/cache/rotation_function/__init__.py",
        "components/cache/rotation_function/handler.py",
        "components/rotation/__init__.py",
        "components/rotation/steps.py",
    ]
    # Enclosing packages ship empty: importing the handler must not import the program (pulumi is not in Lambda).
    for package in ("components/cache/__init__.py", "components/rotation/__init__.py"):
        assert assets[package].get("text") == "", package
    assert (inputs["runtime"], inputs["architectures"], inputs["handler"]) == (
        "python3.12",
        ["arm64"],
        "components.cache.rotation_function.handler.handler",
    )
    assert inputs["tracingConfig"] == {"mode": "Active"} and inputs["kmsKeyArn"] == SECRETS_KEY
    assert inputs["reservedConcurrentExecutions"] == 2 and 240 < inputs["timeout"] <= 900
    vpc = inputs["vpcConfig"]
    assert vpc["subnetIds"] == ["subnet-app-a", "subnet-app-b"]
    (group_id,) = vpc["securityGroupIds"]
    group = small.by_id(group_id)
    assert group is not None and group.parent == component(small).urn and group.inputs["vpcId"] == "vpc-123"
    rules = [r for r in small.resources if r.inputs.get("securityGroupId") == group_id]
    assert [
        (r.type.split(":")[-1], r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules
    ] == [("SecurityGroupEgressRule", "tcp", 443, 443)]
    (logs,) = [g for g in children(small) if g.type == "aws:cloudwatch/logGroup:LogGroup"]
    assert inputs["loggingConfig"]["logGroup"] == logs.inputs["name"]
    assert (logs.inputs["kmsKeyId"], logs.inputs["retentionInDays"]) == (LOGS_KEY, 365)


def test_one_rotation_per_secret_with_the_period_invoking_the_function(small: Evaluation) -> None:
    rotations = [r for r in children(small) if r.type == ROTATION]
    secrets = {r.name.removeprefix("secret-"): r for r in small.of_type("aws:secretsmanager/secret:Secret")}
    function_arn = small.outputs["functionArn"]
    assert sorted(r.name for r in rotations) == [f"{NAME}-app", f"{NAME}-reader"]
    for rotation in rotations:
        user = rotation.name.removeprefix(f"{NAME}-")
        assert rotation.inputs["secretId"].endswith(f"/{secrets[user].name}")
        assert rotation.inputs["rotationLambdaArn"] == function_arn
        assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}


def test_only_secrets_manager_of_this_account_may_invoke(small: Evaluation) -> None:
    permission = one(small, PERMISSION).inputs
    assert (permission["principal"], permission["action"]) == ("secretsmanager.amazonaws.com", "lambda:InvokeFunction")
    assert permission["sourceAccount"] == MOCK_ACCOUNT_ID
    trust = json.loads(one(small, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]


def test_role_policy_is_scoped_to_these_secrets_users_key_and_log_group(small: Evaluation) -> None:
    found = statements(small)
    rotations = [r for r in children(small) if r.type == ROTATION]
    assert found["RotateSecrets"]["Resource"] == sorted(r.inputs["secretId"] for r in rotations)
    assert found["ModifyCacheUsers"]["Resource"] == sorted(USER_ARNS.values())
    assert found["SecretsKeyThroughSecretsManager"]["Resource"] == SECRETS_KEY
    (logs,) = [g for g in children(small) if g.type == "aws:cloudwatch/logGroup:LogGroup"]
    assert found["Logs"]["Resource"].startswith("arn:aws:logs:us-east-1:") and found["Logs"]["Resource"].endswith(
        f":log-group:{logs.inputs['name']}:*"
    )
    assert sorted(sid for sid, s in found.items() if s["Resource"] == "*") == [
        "GeneratePasswords",
        "Tracing",
        "VpcNetworkInterfaces",
    ]


def test_period_and_concurrency_are_arguments(tmp_path: Path) -> None:
    evaluation = run_program(tmp_path, program('"rotation_period_days": 7, "reserved_concurrency": None,'))
    assert {r.inputs["rotationRules"]["automaticallyAfterDays"] for r in evaluation.of_type(ROTATION)} == {7}
    assert "reservedConcurrentExecutions" not in one(evaluation, FUNCTION).inputs


def test_secrets_and_users_must_match(tmp_path: Path) -> None:
    text = program().replace('for user in ("app", "reader")}', 'for user in ("app",)}')
    with pytest.raises(ValueError, match="secrets for"):
        run_program(tmp_path, text)


# -- the real program with the rotation wired in ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], tuple[Evaluation, dict[str, list[str]]]]:
    done: dict[tuple[str, str], tuple[Evaluation, dict[str, list[str]]]] = {}

    def run(stack: str, engine: str) -> tuple[Evaluation, dict[str, list[str]]]:
        if (stack, engine) not in done:
            overrides = {"cryb-db:cache": '{"engine": "ec2"}'} if engine == "ec2" else {}
            config = write_config(tmp_path_factory.mktemp("config"), stack, overrides)
            done[(stack, engine)] = evaluate_with_ignore_changes(stack, config)  # the real __main__.py
        return done[(stack, engine)]

    return run


@pytest.fixture(params=["dev", "prod"])
def wired_stack(request: pytest.FixtureRequest, wired: Callable[..., Any]) -> tuple[Evaluation, dict[str, list[str]]]:
    return wired(request.param, "elasticache")


def test_every_cache_user_secret_rotates_and_nothing_mandatory_is_found(
    wired_stack: tuple[Evaluation, dict[str, list[str]]],
) -> None:
    from scripts.preview.render import policy_report

    evaluation, _ = wired_stack
    root = component(evaluation)
    stack = evaluation.stack
    assert root.name == f"cryb-{stack}-cache-rotation"
    violations = policy_report(evaluation)
    ours = {r.urn for r in evaluation.resources if any(a.urn == root.urn for a in evaluation.ancestors(r))}
    assert [v for v in violations if v["resource"] in ours] == []  # advisory ones included (VPC, tracing)
    cache_secrets = {f"cryb-{stack}-cache-app", f"cryb-{stack}-cache-reader"}
    unrotated = {v["name"] for v in violations if v["policy"] == "secretsmanager-every-secret-rotates"}
    assert not cache_secrets & unrotated
    assert [v for v in violations if v["level"] == "mandatory"] == []
    arns = evaluation.outputs["cache"]["secretArns"]
    ours_rotations = [r for r in evaluation.of_type(ROTATION) if r.urn in ours]
    assert sorted(r.inputs["secretId"] for r in ours_rotations) == sorted(arns.values())
    users = {u.name: u for u in evaluation.of_type("aws:elasticache/user:User")}
    assert statements(evaluation)["ModifyCacheUsers"]["Resource"] == sorted(
        f"arn:aws:elasticache:us-east-1:{MOCK_ACCOUNT_ID}:user/{name}"
        for name in (f"cryb-{stack}-cache-user-app", f"cryb-{stack}-cache-user-reader")
    )
    assert f"cryb-{stack}-cache-user-default" in users  # exists, but is neither rotated nor modifiable


def test_rotated_secrets_carry_the_user_id_and_pulumi_never_writes_them_back(
    wired_stack: tuple[Evaluation, dict[str, list[str]]],
) -> None:
    evaluation, ignored = wired_stack
    stack = evaluation.stack
    for user in ("app", "reader"):
        version = evaluation.named(f"cryb-{stack}-cache-{user}-value")
        assert json.loads(version.inputs["secretString"]) == {
            "username": user,
            "password": f"mock-cryb-{stack}-cache-{user}-password-pw-5ecret0000000000",
            "userId": evaluation.named(f"cryb-{stack}-cache-user-{user}").inputs["userId"],
        }
        assert "secretString" in version.secret_paths
        assert ignored[version.name] == ["secretString", "versionStages"]
        assert ignored[f"cryb-{stack}-cache-user-{user}"] == ["authenticationMode"]
    assert ignored[f"cryb-{stack}-cache-user-default"] == []  # not rotated: Pulumi still owns its password


def test_ec2_engine_rotates_every_acl_user_through_its_nodes(wired: Callable[..., Any]) -> None:
    """The self-hosted cache's 4 user secrets rotate every 30 days through SelfHostedCacheUserRotation, whose function
    waits for the 6 nodes by their plan names; the CA secrets are exempt; rotation owns the secrets' values."""
    evaluation, ignored = wired("prod", "ec2")
    assert not evaluation.of_type("cryb:cache_rotation:CacheUserRotation")
    (component,) = evaluation.of_type("cryb:cache_rotation:SelfHostedCacheUserRotation")
    secret_arns = evaluation.outputs["cache"]["secretArns"]
    assert sorted(secret_arns) == ["admin", "app", "reader", "replicator"]
    rotations = {r.inputs["secretId"]: r for r in evaluation.of_type(ROTATION) if r.parent == component.urn}
    assert set(rotations) == set(secret_arns.values())
    for rotation in rotations.values():
        assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
        assert rotation.inputs["rotateImmediately"] is False  # the nodes are still booting when it is created
    (function,) = [f for f in evaluation.of_type(FUNCTION) if f.parent == component.urn]
    assert function.inputs["handler"] == "components.cache.node_rotation_function.handler.handler"
    nodes = function.inputs["environment"]["variables"]["CLUSTER_NODES"].split(",")
    assert sorted(nodes) == sorted(n["name"] for n in evaluation.outputs["cache"]["nodes"]) and len(nodes) == 6
    versions = [v for v in evaluation.of_type("aws:secretsmanager/secretVersion:SecretVersion") if "-cache-" in v.name]
    assert len(versions) == 4
    for version in versions:
        assert set(json.loads(version.inputs["secretString"])) == {"username", "password"}
        assert ignored[version.name] == ["secretString", "versionStages"]
    exempt = [s for s in evaluation.of_type("aws:secretsmanager/secret:Secret") if "-cache-tls-ca" in s.name]
    assert len(exempt) == 2
    assert all(s.inputs["tags"]["rotation-exempt"] == "certificate-authority" for s in exempt)


def test_rotation_is_wired_after_the_cache() -> None:
    text = (PROJECT_DIR / "__main__.py").read_text()
    assert text.index("CacheUserRotation(") > text.index("cache = Cache(")


@pytest.fixture(autouse=True)
def _no_leaked_monitor() -> Iterator[None]:
    yield
    assert mock_engine.RecordingMonitor is not OptionsMonitor
