"""Key policies of the stack's customer-managed keys, as pure functions returning policy documents."""

from typing import Any

# Which AWS service principals may use a key of each purpose, and through which service (kms:ViaService).
KEY_PURPOSES: dict[str, str] = {
    "logs": "CloudWatch Logs log groups (VPC flow logs, database and cache logs)",
    "data": "Data at rest: RDS storage, Performance Insights, ElastiCache, EBS volumes",
    "secrets": "Secrets Manager secrets (database and cache credentials)",
    "artifacts": "Lambda code artifacts in S3: deployment packages, their signed copies and the bucket's access logs",
}


def key_policy(purpose: str, account_id: str, region: str) -> dict[str, Any]:
    """The account administers the key through IAM; services get only what their purpose needs."""
    if purpose not in KEY_PURPOSES:
        raise ValueError(f"purpose={purpose!r}: must be one of {', '.join(KEY_PURPOSES)}")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if purpose == "logs":
        statements.append(
            {
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"}
                },
            }
        )
    else:
        via = {
            "data": [
                f"rds.{region}.amazonaws.com",
                f"elasticache.{region}.amazonaws.com",
                f"ec2.{region}.amazonaws.com",
            ],
            "secrets": [f"secretsmanager.{region}.amazonaws.com"],
            # Uploads, AWS Signer and Lambda read and write the artifacts through S3 with the caller's credentials.
            "artifacts": [f"s3.{region}.amazonaws.com"],
        }[purpose]
        statements.append(
            {
                "Sid": "AccountPrincipalsUseKeyOnlyThroughItsServices",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": via},
                },
            }
        )
    if purpose == "artifacts":
        # The artifacts bucket's access logs are written, encrypted with this key, by the S3 logging service itself.
        statements.append(
            {
                "Sid": "S3ServerAccessLogDeliveryEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
