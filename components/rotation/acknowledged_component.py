"""The component behind every rotation whose new password the nodes apply and acknowledge (a Patroni cluster's
credentials, the self-hosted cache's ACL users): one rotation function, waiting for every node, and one
SecretRotation per secret. The steps are components/rotation/acknowledged.py; each engine subclasses
`AcknowledgedRotation` with its type token, its secrets and its function package."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar, NotRequired, TypedDict

import pulumi

from components.metrics.metric import Metric
from components.rotation.function import FunctionSpec, declare_rotation_function, declare_rotations
from components.rotation.policies import acknowledged_rotation_policy
from components.signing import CodeSigning

TIMEOUT_SECONDS = 900  # setSecret waits up to 13 minutes for every node's 30-second agent to acknowledge
DEFAULT_ROTATION_DAYS = 30


class AcknowledgedRotationArgs(TypedDict):
    """Inputs of an AcknowledgedRotation (SelfHostedCredentialRotation, SelfHostedCacheUserRotation)."""

    secret_arns: Mapping[str, pulumi.Input[str]]
    """The store's secrets by purpose or user; every one of the subclass's `ROTATED` rotates (a Patroni cluster's
    pgBackRest passphrase does not: it encrypts the existing backups)."""
    nodes: Sequence[str]
    """Node names (Patroni member names such as `analytics-a`, cache plan names such as `s0-master`): every one must
    acknowledge a new password."""
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
    """Resources the rotations must wait for (pass the cluster or cache: its secrets' first versions)."""
    region: str
    """Region of the stack (KMS ViaService and VPC conditions)."""
    code_signing: CodeSigning
    """The stack region's code signing (components/signing): the function runs only its signed package."""
    account_id: str
    """Account whose Secrets Manager may invoke the function."""
    tags: Mapping[str, str]
    """Tags on every taggable resource."""


class AcknowledgedRotation(pulumi.ComponentResource):
    """Rotates `ROTATED` every `rotation_period_days`. The first rotation comes after one period, not at creation: the
    nodes are still booting then (Secrets Manager only tests the configuration, with an empty pending version the
    agents ignore)."""

    TYPE_TOKEN: ClassVar[str]
    ROTATED: ClassVar[tuple[str, ...]]
    """The secrets (keys of `secret_arns`) that rotate."""
    PURPOSE: ClassVar[str]
    """The function's description."""
    STORE: ClassVar[str]
    """What the nodes make up, in messages (`cluster`, `cache`)."""
    PACKAGE_FILES: ClassVar[Sequence[Path]]
    HANDLER: ClassVar[str]
    NODES_VARIABLE: ClassVar[str]
    """The function's environment variable that lists the nodes."""

    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    identifier: str
    """The component name: its rotation-failure alarm is `<identifier>-failed`."""

    def __init__(self, name: str, args: AcknowledgedRotationArgs, opts: pulumi.ResourceOptions | None = None):
        # Checked before anything is registered.
        missing = sorted(set(self.ROTATED) - set(args["secret_arns"]))
        if missing:
            raise ValueError(f"secret_arns: no secret for {', '.join(missing)} (all of {self.ROTATED} rotate)")
        nodes = list(args["nodes"])
        if not nodes or len(set(nodes)) != len(nodes):
            raise ValueError(f"nodes: {nodes!r} must name every node of the {self.STORE} once")
        super().__init__(self.TYPE_TOKEN, name, None, opts)
        a = args
        rotated = {key: a["secret_arns"][key] for key in self.ROTATED}
        declared = declare_rotation_function(
            name,
            FunctionSpec(
                purpose=self.PURPOSE,
                package_files=self.PACKAGE_FILES,
                handler=self.HANDLER,
                timeout_seconds=TIMEOUT_SECONDS,
                egress_description="Secrets Manager API over HTTPS",
                policy=lambda logs_arn, v: acknowledged_rotation_policy(v[0], v[1], logs_arn, a["region"]),
                policy_inputs=[list(rotated.values()), a["secrets_kms_key_arn"]],
                environment={self.NODES_VARIABLE: ",".join(nodes)},
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
