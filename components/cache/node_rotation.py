"""Secrets Manager rotation of the self-hosted cache's ACL users (`engine: ec2`,
docs/cache.md#self-hosted-password-rotation): the rotation function (components/cache/node_rotation_function/) and
one SecretRotation per user. The nodes' credentials agent (components/cache/credentials_agent/agent.py) applies each
new password; the function waits for them. The component itself is the shared
components/rotation/acknowledged_component.py."""

from components.cache import node_rotation_function
from components.rotation.acknowledged_component import AcknowledgedRotation, AcknowledgedRotationArgs

__all__ = ["ROTATED_USERS", "SelfHostedCacheUserRotation", "SelfHostedCacheUserRotationArgs"]

ROTATED_USERS = ("admin", "app", "reader", "replicator")

SelfHostedCacheUserRotationArgs = AcknowledgedRotationArgs
"""Inputs of SelfHostedCacheUserRotation: `secret_arns` are the cache's user secrets (Cache.secret_arns)."""


class SelfHostedCacheUserRotation(AcknowledgedRotation):
    """Rotates the self-hosted cache's `app`, `reader`, `admin` and `replicator` passwords every
    `rotation_period_days`, each accepted by every node before it is current."""

    TYPE_TOKEN = "cryb:cache_rotation:SelfHostedCacheUserRotation"
    ROTATED = ROTATED_USERS
    STORE = "cache"
    PURPOSE = "rotates the self-hosted cache's ACL passwords once its nodes accept them"
    PACKAGE_FILES = node_rotation_function.PACKAGE_FILES
    HANDLER = node_rotation_function.HANDLER
    NODES_VARIABLE = node_rotation_function.NODES_VARIABLE
