"""Secrets Manager rotation of the self-hosted cache's ACL users (`engine: ec2`,
docs/cache.md#self-hosted-password-rotation): the rotation function (components/cache/node_rotation_function/) and
one SecretRotation per user. The nodes' credentials agent (components/cache/credentials_agent/agent.py) applies each
new password; the function waits for them."""

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict

import pulumi

from components.cache.node_rotation_function import HANDLER, NODES_VARIABLE, PACKAGE_FILES
from components.metrics.metric import Metric
from components.rotation.function import FunctionSpec, declare_rotation_function, declare_rotations
from components.rotation.policies import acknowledged_rotation_policy
from components.signing import CodeSigning

TIMEOUT_SECONDS = 900  # setSecret waits up to 13 minutes for every node's 30-second agent to acknowledge
DEFAULT_ROTATION_DAYS = 30
ROTATED_USERS = ("admin", "app", "reader", "replicator")


class SelfHostedCacheUserRotationArgs(TypedDict):
    """Inputs of SelfHostedCacheUserRotation."""

    secret_arns: Mapping[str, pulumi.Input[str]]
    """The cache's user secrets by user (Cache.secret_arns); all of ROTATED_USERS rotate."""
    nodes: Sequence[str]
    """Node plan names (`s0-master`, ...): every one must acknowledge a new password."""
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
    """Private subnets with a route to Secrets Manager (the app tier: its interface endpoint, or NAT)."""
    rotate_after: NotRequired[Sequence[pulumi.Resource]]
    """Resources the rotations must wait for (pass the cache: its secrets' first versions)."""
    region: str
    """Region of the stack (KMS ViaService and VPC conditions)."""
    code_signing: CodeSigning
    """The stack region's code signing (components/signing): the function runs only its signed package."""
    account_id: str
    """Account whose Secrets Manager may invoke the function."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class SelfHostedCacheUserRotation(pulumi.ComponentResource):
    """Rotates the self-hosted cache's `app`, `reader`, `admin` and `replicator` passwords every
    `rotation_period_days`. The first rotation comes after one period, not at creation: the nodes are still booting
    then (Secrets Manager only tests the configuration, with an empty pending version the agents ignore)."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    identifier: str
    """The component name: its rotation-failure alarm is `<identifier>-failed`."""

    def __init__(self, name: str, args: SelfHostedCacheUserRotationArgs, opts: pulumi.ResourceOptions | None = None):
        # Checked before anything is registered.
        missing = sorted(set(ROTATED_USERS) - set(args["secret_arns"]))
        if missing:
            raise ValueError(f"secret_arns: no secret for {', '.join(missing)} (all of {ROTATED_USERS} rotate)")
        nodes = list(args["nodes"])
        if not nodes or len(set(nodes)) != len(nodes):
            raise ValueError(f"nodes: {nodes!r} must name every node of the cache once")
        super().__init__("cryb:cache_rotation:SelfHostedCacheUserRotation", name, None, opts)
        a = args
        rotated = {user: a["secret_arns"][user] for user in ROTATED_USERS}
        declared = declare_rotation_function(
            name,
            FunctionSpec(
                purpose="rotates the self-hosted cache's ACL passwords once its nodes accept them",
                package_files=PACKAGE_FILES,
                handler=HANDLER,
                timeout_seconds=TIMEOUT_SECONDS,
                egress_description="Secrets Manager API over HTTPS",
                policy=lambda logs_arn, v: acknowledged_rotation_policy(v[0], v[1], logs_arn, a["region"]),
                policy_inputs=[[rotated[user] for user in ROTATED_USERS], a["secrets_kms_key_arn"]],
                environment={NODES_VARIABLE: ",".join(nodes)},
            ),
            parent=self,
            vpc_id=a["vpc_id"],
            subnet_ids=a["subnet_ids"],
            secrets_kms_key_arn=a["secrets_kms_key_arn"],
            logs_kms_key_arn=a["logs_kms_key_arn"],
            log_retention_days=a["log_retention_days"],
            # One per secret: all of them fall due together, and a throttled step fails its rotation.
            reserved_concurrency=len(rotated),
            account_id=a["account_id"],
            code_signing=a["code_signing"],
            tags=dict(a["tags"]),
        )
        self.function_name, self.function_arn = declared.function.name, declared.function.arn
        self.identifier, self._declared = name, declared
        declare_rotations(
            name,
            declared,
            rotated,
            parent=self,
            period_days=a.get("rotation_period_days", DEFAULT_ROTATION_DAYS),
            rotate_immediately=False,
            rotate_after=a.get("rotate_after", []),
        )
        self.register_outputs({"functionName": self.function_name, "functionArn": self.function_arn})

    def metric_errors(self) -> Metric:
        """Failed rotation steps of the function (AWS/Lambda Errors, Sum over 5 minutes)."""
        return self._declared.metric_errors()
