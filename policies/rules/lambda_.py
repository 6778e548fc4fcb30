"""Lambda (rotation and operational functions): never publicly invokable; in the VPC and traced (advisory)."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .props import UNKNOWN, as_list
from .resource import Resource

RULES = RuleSet()

FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
SOURCE_RESTRICTIONS = ("sourceArn", "sourceAccount", "principalOrgId")


@RULES.resource(
    types=(PERMISSION, FUNCTION_URL),
    name="lambda-not-public",
    description="Functions cannot be invoked by anyone: permissions name a source, function URLs need IAM auth.",
    controls=("Lambda.1",),
    severity=Severity.CRITICAL,
    remediation="Give the permission a specific principal and source_arn/source_account; use "
    "authorization_type='AWS_IAM' on function URLs.",
)
def lambda_not_public(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == FUNCTION_URL:
        if resource.get("authorizationType") == "NONE":
            yield "authorizationType is 'NONE' (public URL): set authorization_type='AWS_IAM'."
        return
    principal = resource.get("principal")
    anyone = principal == "*" or (isinstance(principal, str) and principal.endswith(".amazonaws.com"))
    if anyone and not any(key in resource.props for key in SOURCE_RESTRICTIONS):
        # a service principal without a source lets any account's bucket/topic of that service invoke it
        yield f"principal {principal!r} has no source restriction: set source_arn or source_account."


@RULES.resource(
    types=(FUNCTION,),
    name="lambda-in-vpc",
    description="Functions run in the VPC's private subnets, so they reach data stores without the internet.",
    controls=("Lambda.3",),
    severity=Severity.LOW,
    remediation="Set vpc_config with the app subnet IDs and a security group.",
)
def lambda_in_vpc(resource: Resource, config: Config) -> Iterator[str]:
    subnets = as_list(resource.get("vpcConfig", "subnetIds"))
    if subnets is not UNKNOWN and not subnets:
        yield "vpcConfig.subnetIds is empty: set vpc_config with the app subnets."


@RULES.resource(
    types=(FUNCTION,),
    name="lambda-active-tracing",
    description="Functions send X-Ray traces, so slow rotations and hooks can be diagnosed.",
    controls=("Lambda.7",),
    severity=Severity.LOW,
    remediation="Set tracing_config={'mode': 'Active'}.",
)
def lambda_active_tracing(resource: Resource, config: Config) -> Iterator[str]:
    mode = resource.get("tracingConfig", "mode", default="PassThrough")
    if mode is not UNKNOWN and mode != "Active":
        yield f"tracingConfig.mode is {mode!r}: set tracing_config mode 'Active'."
