"""Rotate the password of an ACL user of the self-hosted cache (`engine: ec2`,
docs/cache.md#self-hosted-password-rotation).

Every node keeps its ACL users itself, so this function cannot change a password: the nodes' credentials agent
(components/cache/credentials_agent/agent.py, a 30-second timer on every node) gives the user the pending password
beside the current one (`ACL SETUSER ... resetpass #<current> #<pending>`) and acknowledges with a tag on the secret.
The four steps are those of every node-acknowledged rotation (components/rotation/acknowledged.py): createSecret
stores a new password staged AWSPENDING; setSecret waits until every node has tagged `cryb-rotation-<node>` = token
(each accepts both passwords now), else withdraws the pending version; testSecret checks no node has fallen back;
finishSecret moves AWSCURRENT and removes the tags, and each node's next agent run drops the old password.

Clients reading AWSCURRENT get the old password until finishSecret, which every node accepts until then, and the new
one after it, which every node accepts already: a client that re-reads the secret when it connects never fails.

The nodes are named in the function's `CLUSTER_NODES` variable (plan names, `s0-master`); the user in the secret's
`cache-user` tag. Passwords are never logged, nor put in an exception message. Standard library and boto3 only.
"""

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import boto3

from components.rotation.acknowledged import STEPS, Acknowledged, Sleep, checked_step, node_tags
from components.rotation.steps import RotationError

__all__ = ["RotationError", "handler", "rotate"]

LOG = logging.getLogger("cache_node_rotation")
LOG.setLevel(logging.INFO)
logging.getLogger("rotation").setLevel(logging.INFO)  # components/rotation/steps.py, acknowledged.py
for _noisy in ("botocore", "boto3", "urllib3"):  # botocore's DEBUG would print secret values
    logging.getLogger(_noisy).setLevel(logging.WARNING)

USER_TAG = "cache-user"
ROTATED = frozenset({"app", "reader", "admin", "replicator"})
PASSWORD_LENGTH = 40  # letters and digits, like the first passwords (components/cache/component.py)
POLL_SECONDS = 2.0  # how long after the last node's acknowledgement AWSCURRENT may lag
POLL_ATTEMPTS = 390  # 13 minutes: the agents run every 30 s; the function's timeout is 15 minutes
WHERE_TO_LOOK = "the nodes' cryb-cache-credentials log (docs/cache.md#self-hosted-password-rotation)"


def handler(event: dict[str, Any], context: Any) -> None:
    nodes = [n for n in os.environ.get("CLUSTER_NODES", "").split(",") if n]
    rotate(event, boto3.client("secretsmanager"), nodes)


def rotate(event: dict[str, Any], secrets: Any, nodes: Sequence[str], sleep: Sleep = time.sleep) -> None:
    """Run one step of the rotation contract, after the checks AWS's rotation templates make."""
    checked = checked_step(secrets, event, nodes, USER_TAG, ROTATED)
    if checked is None:
        return
    arn, token, step, user = checked
    LOG.info("%s: secret %s (%s), version %s", step, arn, user, token)
    waiting = Acknowledged(node_tags(nodes), sleep, POLL_SECONDS, POLL_ATTEMPTS, PASSWORD_LENGTH, WHERE_TO_LOOK)
    STEPS[step](secrets, arn, token, waiting)
