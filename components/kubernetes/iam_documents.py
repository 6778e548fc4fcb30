"""IAM documents of a namespace's secrets role: who may assume it (IRSA or EKS Pod Identity) and what it may read
(exactly its secrets, decrypted with the secrets key through Secrets Manager only)."""

import json
from collections.abc import Sequence
from typing import Any


def oidc_issuer(oidc_provider_arn: str) -> str:
    """`arn:aws:iam::<account>:oidc-provider/<issuer host/path>` -> `<issuer host/path>` (the condition key prefix)."""
    marker = ":oidc-provider/"
    if marker not in oidc_provider_arn:
        raise ValueError(
            f"{oidc_provider_arn!r}: not an IAM OIDC provider ARN (arn:aws:iam::<account>{marker}<issuer>)"
        )
    return oidc_provider_arn.split(marker, 1)[1]


def irsa_trust(oidc_provider_arn: str, namespace: str, service_account: str) -> str:
    """Only this namespace's service account, with a token for STS, may assume the role."""
    issuer = oidc_issuer(oidc_provider_arn)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def pod_identity_trust(controller_role_arn: str) -> str:
    """EKS Pod Identity: the External Secrets controller (associated with `controller_role_arn`) assumes the role
    for this namespace's store; tags let the session be traced to the store."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": controller_role_arn},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        },
        sort_keys=True,
    )


def read_secrets_policy(secret_arns: Sequence[str], secrets_kms_key_arn: str, region: str) -> str:
    """Read exactly these secrets; decrypt with the secrets key only when Secrets Manager asks on the role's behalf."""
    if not secret_arns:
        raise ValueError("a secrets role needs at least one secret ARN")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadItsSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": sorted(set(secret_arns)),
        },
        {
            "Sid": "DecryptThroughSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": secrets_kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
