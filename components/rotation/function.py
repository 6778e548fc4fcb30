"""A Secrets Manager rotation Lambda as the rotation components declare it (cache users, Patroni clusters): its log
group, role and policy, the VPC-attached function and Secrets Manager's permission to invoke it, and one
SecretRotation per secret. The caller gives the package files, the handler and the policy; the secure defaults live
here."""

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.metrics.metric import Metric
from components.network.https_egress import https_only_security_group
from components.rotation.policies import lambda_trust
from components.signing import CodeSigning

RUNTIME = "python3.12"
REPO_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the rotation functions."""

    purpose: str
    """Said in descriptions, e.g. `rotates the ElastiCache user passwords kept in Secrets Manager`."""
    package_files: Sequence[Path]
    """Files of the function's archive, kept at their paths under the repository (standard library and boto3 only);
    the `__init__.py` of every enclosing package that is not among them (`components/`, `components/<concern>/`)
    is added empty, so importing the handler loads nothing else of the program."""
    handler: str
    """`components.<package>.handler.handler`."""
    timeout_seconds: int
    egress_description: str
    """What the function reaches over HTTPS (its security group sends nothing else)."""
    policy: Callable[[str, Any], dict[str, Any]]
    """The role policy, given the function's log group ARN and `policy_inputs` resolved."""
    policy_inputs: Any
    """Inputs of the policy (ARNs that may still be unknown), in any nesting of lists and dicts."""
    environment: Mapping[str, str] | None = None


ERRORS_PERIOD_SECONDS = 300


@dataclass(frozen=True)
class DeclaredFunction:
    function: aws.lambda_.Function
    policy: aws.iam.RolePolicy
    permission: aws.lambda_.Permission

    def metric_errors(self) -> Metric:
        """Invocations that raised: a rotation step failed (the function's log says which and why)."""
        return Metric("AWS/Lambda", "Errors", {"FunctionName": self.function.name}, "Sum", ERRORS_PERIOD_SECONDS)


def function_archive(files: Sequence[Path]) -> pulumi.AssetArchive:
    """The files at their paths under the repository, plus an empty `__init__.py` for each enclosing package the
    files do not include. Asset paths are relative to the program directory, so the state holds the same paths on
    every machine."""
    keys = {path: path.relative_to(REPO_DIR).as_posix() for path in files}
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for path, key in keys.items():
        if not key.startswith("components/") or key == "components/__init__.py":
            raise ValueError(f"{path}: a function's archive holds files of components/ only (not its __init__.py)")
        package = Path(key).parent
        while package != Path("."):
            init = (package / "__init__.py").as_posix()
            if init not in keys.values():
                assets.setdefault(init, pulumi.StringAsset(""))
            package = package.parent
    for path, key in keys.items():
        assets[key] = pulumi.FileAsset(os.path.relpath(path))
    return pulumi.AssetArchive(dict(sorted(assets.items())))


def declare_rotation_function(
    name: str,
    spec: FunctionSpec,
    *,
    parent: pulumi.Resource,
    vpc_id: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    secrets_kms_key_arn: pulumi.Input[str],
    logs_kms_key_arn: pulumi.Input[str],
    log_retention_days: int,
    reserved_concurrency: int | None,
    account_id: str,
    code_signing: CodeSigning,
    tags: Mapping[str, str],
) -> DeclaredFunction:
    """Children of `parent`, named `{name}-...`. The archive is uploaded and signed by `code_signing` (its
    `{name}-function-package` and `{name}-function-signing`), and the function runs only that signed copy."""

    def child(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))

    def tagged(label: str) -> dict[str, str]:
        return {**tags, "Name": label}

    logs = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"/cryb-db/{name}/function",
        retention_in_days=log_retention_days,
        kms_key_id=logs_kms_key_arn,
        tags=tagged(f"{name}-logs"),
        opts=child(),
    )
    role = aws.iam.Role(
        f"{name}-role",
        description=f"cryb-db {name}: {spec.purpose}",
        assume_role_policy=json.dumps(lambda_trust()),
        tags=tagged(f"{name}-role"),
        opts=child(),
    )
    document = pulumi.Output.all(logs.arn, pulumi.Output.from_input(spec.policy_inputs)).apply(
        lambda resolved: json.dumps(spec.policy(resolved[0], resolved[1]))
    )
    policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=document, opts=child())
    security_group = https_only_security_group(
        f"{name}-sg",
        vpc_id=vpc_id,
        description=f"cryb-db {name}: rotation Lambda, HTTPS out only",
        egress_description=spec.egress_description,
        tags=dict(tags),
        opts=child(),
    )
    signed = code_signing.sign(f"{name}-function", function_archive(spec.package_files), parent=parent)
    function = aws.lambda_.Function(
        f"{name}-function",
        description=f"cryb-db {name}: {spec.purpose}",
        runtime=RUNTIME,
        architectures=["arm64"],
        handler=spec.handler,
        # The signed copy of the archive; the code signing configuration refuses any other (docs/code-signing.md).
        s3_bucket=signed.s3_bucket,
        s3_key=signed.s3_key,
        code_signing_config_arn=signed.code_signing_config_arn,
        role=role.arn,
        memory_size=128,
        timeout=spec.timeout_seconds,
        reserved_concurrent_executions=reserved_concurrency,
        environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(spec.environment)) if spec.environment else None,
        # The configuration (and any environment variable) is encrypted with a CMK, not the AWS-managed key.
        kms_key_arn=secrets_kms_key_arn,
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
        vpc_config=aws.lambda_.FunctionVpcConfigArgs(
            subnet_ids=list(subnet_ids), security_group_ids=[security_group.id]
        ),
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(
            log_format="JSON", log_group=logs.name, application_log_level="INFO", system_log_level="WARN"
        ),
        tags=tagged(f"{name}-function"),
        opts=child(policy, logs),
    )
    permission = aws.lambda_.Permission(
        f"{name}-secretsmanager-invokes",
        function=function.name,
        action="lambda:InvokeFunction",
        principal="secretsmanager.amazonaws.com",
        # Only on behalf of this account (Lambda.1); no source ARN, so one function serves every secret it rotates.
        source_account=account_id,
        opts=child(),
    )
    return DeclaredFunction(function, policy, permission)


def declare_rotations(
    name: str,
    declared: DeclaredFunction,
    secret_arns: Mapping[str, pulumi.Input[str]],
    *,
    parent: pulumi.Resource,
    period_days: int,
    rotate_immediately: bool,
    rotate_after: Sequence[pulumi.Resource] = (),
) -> None:
    """One SecretRotation `{name}-{key}` per secret."""
    for key in sorted(secret_arns):
        aws.secretsmanager.SecretRotation(
            f"{name}-{key}",
            secret_id=secret_arns[key],
            rotation_lambda_arn=declared.function.arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(automatically_after_days=period_days),
            rotate_immediately=rotate_immediately,
            opts=pulumi.ResourceOptions(
                parent=parent, depends_on=[declared.permission, declared.policy, *rotate_after]
            ),
        )
