"""Secrets Manager rotation of the ElastiCache RBAC user passwords (docs/cache.md#password-rotation): the rotation
Lambda (components/cache_rotation_function/), its role, log group and security group, and one SecretRotation per
user secret."""

import json
import os
from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from .cache_rotation_function import HANDLER, HANDLER_FILE
from .cache_rotation_policies import lambda_trust, rotation_policy
from .https_egress import https_only_security_group

RUNTIME = "python3.12"
TIMEOUT_SECONDS = 300  # setSecret waits up to 4 minutes for ElastiCache to apply ModifyUser
DEFAULT_ROTATION_DAYS = 30


class CacheUserRotationArgs(TypedDict):
    """Inputs of CacheUserRotation."""

    secret_arns: Mapping[str, pulumi.Input[str]]
    """Secrets Manager secret of each cache user (`{"username", "password", "userId"}`), by user name."""
    user_arns: Mapping[str, pulumi.Input[str]]
    """ARN of each ElastiCache user the secrets belong to, by user name (the only users the function may modify)."""
    secrets_kms_key_arn: pulumi.Input[str]
    """CMK of the secrets (used only through Secrets Manager); also encrypts the function's configuration."""
    logs_kms_key_arn: pulumi.Input[str]
    """CMK of the function's log group."""
    log_retention_days: int
    """Retention of the function's log group (a CloudWatch Logs period)."""
    rotation_period_days: NotRequired[int]
    """Days between automatic rotations (1-1000); default 30."""
    vpc_id: pulumi.Input[str]
    """VPC the function runs in (Lambda.3)."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets with a route to the AWS APIs (the app tier: NAT, and interface endpoints where declared)."""
    reserved_concurrency: NotRequired[int | None]
    """Concurrent executions reserved (and capped). Default: one per secret, so secrets rotating at the same moment
    (all of them right after creation) are not throttled by each other. None: unreserved."""
    rotate_after: NotRequired[Sequence[pulumi.Resource]]
    """Resources the rotations must wait for: Secrets Manager rotates right after a SecretRotation is created, so
    the secrets' first versions and the ElastiCache users must exist (pass the Cache component)."""
    region: str
    """Region of the stack (KMS ViaService and VPC conditions)."""
    account_id: str
    """Account whose Secrets Manager may invoke the function."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class CacheUserRotation(pulumi.ComponentResource):
    """Rotates every cache user's password every `rotation_period_days` through a VPC-attached Lambda that gives the
    user the new and the current password, so clients switch over without an authentication gap."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CacheUserRotationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:cache_rotation:CacheUserRotation", name, None, opts)
        if set(args["secret_arns"]) != set(args["user_arns"]):
            raise ValueError(
                f"secrets for {sorted(args['secret_arns'])} but ElastiCache users {sorted(args['user_arns'])}"
            )
        if not args["secret_arns"]:
            raise ValueError("no cache user secrets to rotate")
        self._name, self._args, self._tags = name, args, dict(args["tags"])
        n, a = name, args
        users = sorted(a["secret_arns"])
        period = a.get("rotation_period_days", DEFAULT_ROTATION_DAYS)

        logs = aws.cloudwatch.LogGroup(
            f"{n}-logs",
            name=f"/cryb-db/{n}/function",
            retention_in_days=a["log_retention_days"],
            kms_key_id=a["logs_kms_key_arn"],
            tags=self._tag(f"{n}-logs"),
            opts=self._child(),
        )
        role = aws.iam.Role(
            f"{n}-role",
            description=f"cryb-db {n}: rotates the ElastiCache user passwords kept in Secrets Manager",
            assume_role_policy=json.dumps(lambda_trust()),
            tags=self._tag(f"{n}-role"),
            opts=self._child(),
        )
        policy = aws.iam.RolePolicy(
            f"{n}-policy",
            role=role.id,
            policy=pulumi.Output.all(
                [a["secret_arns"][u] for u in users],
                [a["user_arns"][u] for u in users],
                a["secrets_kms_key_arn"],
                logs.arn,
            ).apply(lambda v: json.dumps(rotation_policy(v[0], v[1], v[2], v[3], a["region"]))),
            opts=self._child(),
        )
        function = aws.lambda_.Function(
            f"{n}-function",
            description=f"cryb-db {n}: Secrets Manager rotation of the ElastiCache RBAC user passwords",
            runtime=RUNTIME,
            architectures=["arm64"],
            handler=HANDLER,
            # Relative to the program directory, so the asset path in the state is the same on every machine.
            code=pulumi.AssetArchive({HANDLER_FILE.name: pulumi.FileAsset(os.path.relpath(HANDLER_FILE))}),
            role=role.arn,
            memory_size=128,
            timeout=TIMEOUT_SECONDS,
            reserved_concurrent_executions=a.get("reserved_concurrency", len(users)),
            # No environment variables today; any added later are encrypted with a CMK, not the AWS-managed key.
            kms_key_arn=a["secrets_kms_key_arn"],
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=list(a["subnet_ids"]), security_group_ids=[self._security_group().id]
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=logs.name, application_log_level="INFO", system_log_level="WARN"
            ),
            tags=self._tag(f"{n}-function"),
            opts=self._child(policy, logs),
        )
        self.function_name, self.function_arn = function.name, function.arn
        permission = aws.lambda_.Permission(
            f"{n}-secretsmanager-invokes",
            function=function.name,
            action="lambda:InvokeFunction",
            principal="secretsmanager.amazonaws.com",
            # Only on behalf of this account (Lambda.1); no source ARN, so one function serves every user secret.
            source_account=a["account_id"],
            opts=self._child(),
        )
        for user in users:
            aws.secretsmanager.SecretRotation(
                f"{n}-{user}",
                secret_id=a["secret_arns"][user],
                rotation_lambda_arn=function.arn,
                rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(automatically_after_days=period),
                opts=self._child(permission, policy, *a.get("rotate_after", [])),
            )
        self.register_outputs({"functionName": self.function_name, "functionArn": self.function_arn})

    def _tag(self, name: str) -> dict[str, str]:
        return {**self._tags, "Name": name}

    def _child(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

    def _security_group(self) -> aws.ec2.SecurityGroup:
        """No ingress; HTTPS out only: Secrets Manager (interface endpoint or NAT) and the ElastiCache API, which has
        no interface endpoint in this VPC and is reached through the app tier's NAT."""
        n, a = self._name, self._args
        return https_only_security_group(
            f"{n}-sg",
            vpc_id=a["vpc_id"],
            description=f"cryb-db {n}: cache password rotation Lambda, HTTPS out only",
            egress_description="Secrets Manager and ElastiCache APIs over HTTPS",
            tags=self._tags,
            opts=self._child(),
        )
