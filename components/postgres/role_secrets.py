"""The secrets of the least-privilege roles of the RDS shards (components/postgres/roles.py), and their rotation.

Each shard has one secret per role, in the shape AWS's single-user rotation function reads (`engine`, `host`,
`port`, `dbname`, `username`, `password`): the role changes its own password, so rotation needs no admin
credentials. The function is AWS's published template `SecretsManagerRDSPostgreSQLRotationSingleUser`, deployed once
per stack from the Serverless Application Repository into the shards' proxy subnets and pooler security group (it
reaches the shards like the RDS Proxy does, and Secrets Manager through the interface endpoint). The roles and
their first passwords come from `python -m scripts roles apply` after `pulumi up` (docs/postgres.md#roles).
"""

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.postgres.roles import ROLES

SINGLE_USER_ROTATION_APP = (
    "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser"
)
# Pinned, so a `pulumi up` never deploys a rotation function nobody reviewed (unset, the Serverless Application
# Repository deploys whatever is latest when the stack is created). 1.1.671 is the `aws`-partition version AWS CDK
# pins for POSTGRES_ROTATION_SINGLE_USER (aws/aws-cdk, packages/aws-cdk-lib/aws-secretsmanager/lib/secret-rotation.ts
# at 0b89b3c3); raise it deliberately, after reading the template's release notes (docs/postgres.md#roles).
SINGLE_USER_ROTATION_VERSION = "1.1.671"
ROTATION_DAYS = 30
RECOVERY_DAYS = 30
PASSWORD_LENGTH = 40


def rotation_function(
    name: str,
    *,
    region: str,
    subnet_ids: Sequence[pulumi.Input[str]],
    security_group_id: pulumi.Input[str],
    kms_key_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The single-user rotation function (one per stack); returns its ARN."""
    stack = aws.serverlessrepository.CloudFormationStack(
        f"{name}-role-rotation",
        name=f"{name}-role-rotation",
        application_id=SINGLE_USER_ROTATION_APP,
        semantic_version=SINGLE_USER_ROTATION_VERSION,
        capabilities=["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"],
        parameters={
            "functionName": f"{name}-role-rotation",
            "endpoint": f"https://secretsmanager.{region}.amazonaws.com",
            "vpcSubnetIds": pulumi.Output.all(*subnet_ids).apply(",".join),
            "vpcSecurityGroupIds": security_group_id,
            "kmsKeyArn": kms_key_arn,
        },
        tags={**tags, "Name": f"{name}-role-rotation"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return stack.outputs.apply(lambda outputs: str(outputs["RotationLambdaARN"]))


def role_secrets(
    shard: str,
    *,
    host: pulumi.Input[str],
    port: int,
    database: str,
    kms_key_arn: pulumi.Input[str],
    rotation_lambda_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> dict[str, pulumi.Output[str]]:
    """One secret per role of `shard`, rotated every 30 days by the single-user function; role -> secret ARN."""
    child = pulumi.ResourceOptions(parent=parent)
    arns: dict[str, pulumi.Output[str]] = {}
    for role in ROLES:
        label = f"{shard}-{role.name}"
        password = random.RandomPassword(f"{label}-password", length=PASSWORD_LENGTH, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            label,
            name_prefix=f"cryb-db/{shard}/{role.name}-",
            description=f"cryb-db {shard}: database role `{role.name}`: {role.purpose}",
            kms_key_id=kms_key_arn,
            recovery_window_in_days=RECOVERY_DAYS,
            tags={**tags, "Name": label, "secret-purpose": role.name},
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{label}-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.json_dumps(
                    {
                        "engine": "postgres",
                        "host": host,
                        "port": port,
                        "dbname": database,
                        "username": role.name,
                        "password": password.result,
                    }
                )
            ),
            # Rotation owns the value after its first run: Pulumi's first password must never be written back.
            opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["secretString", "versionStages"]),
        )
        aws.secretsmanager.SecretRotation(
            f"{label}-rotation",
            secret_id=secret.id,
            rotation_lambda_arn=rotation_lambda_arn,
            rotation_rules={"automatically_after_days": ROTATION_DAYS},
            # The role gets this password from `scripts roles apply`; rotating before that would fail.
            rotate_immediately=False,
            opts=child,
        )
        arns[role.name] = secret.arn
    return arns
