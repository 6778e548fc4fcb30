"""IAM document of a Patroni cluster's credential rotation function (components/selfhosted/rotation.py): pure,
unit-tested."""

from collections.abc import Sequence
from typing import Any

from components.rotation.policies import rotation_statements
from components.selfhosted.credentials_agent import acknowledgement_tags_only


def rotation_policy(
    secret_arns: Sequence[str], secrets_key_arn: str, log_group_arn: str, region: str
) -> dict[str, Any]:
    """The shared rotation statements (components/rotation/policies.py), plus: remove the nodes' acknowledgement
    tags from the rotated secrets, and no other tag."""
    untag = {
        "Sid": "ClearAcknowledgements",
        "Effect": "Allow",
        "Action": "secretsmanager:UntagResource",
        "Resource": sorted(secret_arns),
        "Condition": acknowledgement_tags_only(),
    }
    return {
        "Version": "2012-10-17",
        "Statement": [*rotation_statements(secret_arns, secrets_key_arn, log_group_arn, region), untag],
    }
