"""Lambda (rotation and operational functions): never publicly invokable; in the VPC, traced, and running only
code signed by the stack's AWS Signer profile."""

from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_list
from .resource import Resource

RULES = RuleSet()

FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
CODE_SIGNING_CONFIG = "aws:lambda/codeSigningConfig:CodeSigningConfig"
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


@RULES.stack(
    name="lambda-code-signing-enforced",
    description="Every function has a code signing configuration of this stack that allows a signing profile and "
    "enforces it (untrusted artifacts are refused on deployment, not only logged).",
    controls=("CRYB.14",),
    severity=Severity.HIGH,
    remediation="Deploy the function through components/signing (CodeSigning.sign): code_signing_config_arn set to "
    "a CodeSigningConfig with policies untrusted_artifact_on_deployment='Enforce' and the stack's Signer profile.",
)
def lambda_code_signing_enforced(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    for function in stack.of_type(FUNCTION):
        if "codeSigningConfigArn" not in function.props:
            yield function, "no codeSigningConfigArn: any package deploys; set code_signing_config_arn (Enforce)."
            continue
        configs, unresolved, unknown = stack.referenced(function, ("codeSigningConfigArn",), (CODE_SIGNING_CONFIG,))
        if not configs:
            if not unknown:
                yield (
                    function,
                    f"codeSigningConfigArn {sorted(unresolved)} is no code signing configuration of this stack, so "
                    "its policy cannot be checked: use the stack's (components/signing).",
                )
            continue
        for signing in configs:
            mode = signing.get("policies", "untrustedArtifactOnDeployment", default="Warn")  # AWS's default
            if mode is not UNKNOWN and mode != "Enforce":
                yield (
                    function,
                    f"its code signing configuration {signing.name} has untrustedArtifactOnDeployment {mode!r}, "
                    "which deploys unsigned code with a warning: set it to 'Enforce'.",
                )
            publishers = as_list(signing.get("allowedPublishers", "signingProfileVersionArns", default=[]))
            if publishers is not UNKNOWN and not publishers:
                yield (
                    function,
                    f"its code signing configuration {signing.name} allows no signing profile: list the stack's "
                    "Signer profile version ARN in allowed_publishers.",
                )
