"""Secrets Manager rotation of a self-hosted Patroni cluster's credentials (docs/selfhosted.md#credential-rotation):
the rotation function (components/selfhosted/rotation_function/) and one SecretRotation per credential. The nodes'
credentials agent (components/selfhosted/credentials_agent/agent.py) applies each new password; the function
waits for them. The component itself is the shared components/rotation/acknowledged_component.py.
"""

from components.rotation.acknowledged_component import (
    DEFAULT_ROTATION_DAYS,
    TIMEOUT_SECONDS,
    AcknowledgedRotation,
    AcknowledgedRotationArgs,
)
from components.selfhosted import rotation_function
from components.selfhosted.cloud_init import ROTATED_SECRET_KEYS

__all__ = [
    "DEFAULT_ROTATION_DAYS",
    "TIMEOUT_SECONDS",
    "SelfHostedCredentialRotation",
    "SelfHostedCredentialRotationArgs",
]

SelfHostedCredentialRotationArgs = AcknowledgedRotationArgs
"""Inputs of SelfHostedCredentialRotation: `secret_arns` are the cluster's (SelfHostedCluster.secret_arns)."""


class SelfHostedCredentialRotation(AcknowledgedRotation):
    """Rotates a Patroni cluster's superuser, replication, rewind, REST API and admin passwords every
    `rotation_period_days`, each applied by every node's credentials agent before it is current."""

    TYPE_TOKEN = "cryb:selfhosted_rotation:SelfHostedCredentialRotation"
    ROTATED = tuple(ROTATED_SECRET_KEYS)
    STORE = "cluster"
    PURPOSE = "rotates the Patroni cluster's credentials once its nodes have applied them"
    PACKAGE_FILES = rotation_function.PACKAGE_FILES
    HANDLER = rotation_function.HANDLER
    NODES_VARIABLE = rotation_function.NODES_VARIABLE
