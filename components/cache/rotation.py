"""Secrets Manager rotation of the ElastiCache RBAC user passwords (docs/cache.md#password-rotation): the rotation
Lambda (components/cache/rotation_function/), its role, log group and security group, and one SecretRotation per
user secret."""

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi

from components.cache.rotation_function import HANDLER, PACKAGE_FILES
from components.cache.rotation_policies import rotation_policy
from components.metrics.metric import Metric
from components.rotation.function import FunctionSpec, declare_rotation_function, declare_rotations
from components.signing import CodeSigning

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
    code_signing: CodeSigning
    """The stack region's code signing (components/signing): the function runs only its signed package."""
    account_id: str
    """Account whose Secrets Manager may invoke the function."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class CacheUserRotation(pulumi.ComponentResource):
    """Rotates every cache user's password every `rotation_period_days` through a VPC-attached Lambda that gives the
    user the new and the current password, so clients switch over without an authentication gap."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    identifier: str
    """The component name: its rotation-failure alarm is `<identifier>-failed`."""

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

        declared = declare_rotation_function(
            n,
            FunctionSpec(
                purpose="rotates the ElastiCache user passwords kept in Secrets Manager",
                package_files=PACKAGE_FILES,
                handler=HANDLER,
                timeout_seconds=TIMEOUT_SECONDS,
                # The ElastiCache API has no interface endpoint in this VPC: it is reached through the app tier's NAT.
                egress_description="Secrets Manager and ElastiCache APIs over HTTPS",
                policy=lambda logs_arn, v: rotation_policy(v[0], v[1], v[2], logs_arn, a["region"]),
                policy_inputs=[
                    [a["secret_arns"][u] for u in users],
                    [a["user_arns"][u] for u in users],
                    a["secrets_kms_key_arn"],
                ],
            ),
            parent=self,
            vpc_id=a["vpc_id"],
            subnet_ids=a["subnet_ids"],
            secrets_kms_key_arn=a["secrets_kms_key_arn"],
            logs_kms_key_arn=a["logs_kms_key_arn"],
            log_retention_days=a["log_retention_days"],
            reserved_concurrency=a.get("reserved_concurrency", len(users)),
            account_id=a["account_id"],
            code_signing=a["code_signing"],
            tags=self._tags,
        )
        self.function_name, self.function_arn = declared.function.name, declared.function.arn
        self.identifier, self._declared = name, declared
        declare_rotations(
            n,
            declared,
            a["secret_arns"],
            parent=self,
            period_days=period,
            rotate_immediately=True,
            rotate_after=a.get("rotate_after", []),
        )
        self.register_outputs({"functionName": self.function_name, "functionArn": self.function_arn})

    def metric_errors(self) -> Metric:
        """Failed rotation steps of the function (AWS/Lambda Errors, Sum over 5 minutes)."""
        return self._declared.metric_errors()
