"""Rotate a credential of a self-hosted Patroni cluster (docs/selfhosted.md#credential-rotation).

PostgreSQL keeps one password per role and every node of the cluster holds the superuser, replication, rewind and
REST API passwords in its Patroni configuration, so this function cannot change the password itself: the nodes'
credentials agent (components/selfhosted/credentials_agent/agent.py, a 30-second timer on every node) does, and
acknowledges on the secret with tags. Secrets Manager invokes the function four times per rotation with
`{"SecretId", "ClientRequestToken", "Step"}`:

* `createSecret`: a new password (GetRandomPassword, letters and digits) in a version staged AWSPENDING under the
  token, same JSON as the current one (`{"username", "password"}`). Idempotent per token. From now on the agents
  treat the pending version as effective.
* `setSecret`: waits (bounded) until every node has tagged the secret `cryb-rotation-<node>` = token (it runs with
  the new password) and, for a database role, the leader has tagged `cryb-rotation-leader` = token (it set the
  password and logged in with it over TCP). If they do not within 13 minutes, it withdraws the pending version
  (the agents go back to the current one) and fails.
* `testSecret`: the acknowledgements still name the token (no node has fallen back since). On an AWSPENDING
  version without a value (Secrets Manager testing the configuration of a rotation that does not start at once),
  the configuration checks only.
* `finishSecret`: AWSCURRENT moves to the token's version; the acknowledgement tags are removed.

The nodes are named in the function's `CLUSTER_NODES` variable; the secret's purpose in its `secret-purpose` tag.
Passwords are never logged, nor put in an exception message. Standard library and boto3 only; the package is this
file, the shared contract steps (components/rotation/steps.py) and the steps of node-acknowledged rotations
(components/rotation/acknowledged.py, shared with the self-hosted cache's function).
"""

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import boto3

from components.rotation.acknowledged import (
    PURPOSE_TAG,
    REQUIRED_KEYS,
    STEPS,
    TAG_PREFIX,
    Acknowledged,
    Sleep,
    checked_step,
    node_tags,
)
from components.rotation.steps import RotationError

__all__ = ["PURPOSE_TAG", "REQUIRED_KEYS", "TAG_PREFIX", "RotationError", "handler", "rotate"]

LOG = logging.getLogger("patroni_rotation")
LOG.setLevel(logging.INFO)
logging.getLogger("rotation").setLevel(logging.INFO)  # components/rotation/steps.py, acknowledged.py
for _noisy in ("botocore", "boto3", "urllib3"):  # botocore's DEBUG would print secret values
    logging.getLogger(_noisy).setLevel(logging.WARNING)

LEADER_TAG = f"{TAG_PREFIX}leader"
# The application roles (components/postgres/roles.py) rotate like the admin: the leader's agent sets them.
DATABASE_ROLES = frozenset({"superuser", "replication", "rewind", "admin", "app", "readonly", "monitor", "migrator"})
ROTATED = DATABASE_ROLES | {"restapi"}
PASSWORD_LENGTH = 40  # letters and digits, like the first passwords (components/selfhosted/component.py)
# Every 2 s: the leader sets a database password once every node runs with it, and clients reading AWSCURRENT get
# the old one until finishSecret, so this interval is how long new connections of such clients may fail.
POLL_SECONDS = 2.0
POLL_ATTEMPTS = 390  # 13 minutes: the agents run every 30 s; the function's timeout is 15 minutes
WHERE_TO_LOOK = "the nodes' cryb-pg-credentials log (docs/selfhosted.md#credential-rotation)"


def handler(event: dict[str, Any], context: Any) -> None:
    nodes = [n for n in os.environ.get("CLUSTER_NODES", "").split(",") if n]
    rotate(event, boto3.client("secretsmanager"), nodes)


def rotate(event: dict[str, Any], secrets: Any, nodes: Sequence[str], sleep: Sleep = time.sleep) -> None:
    """Run one step of the rotation contract, after the checks AWS's rotation templates make."""
    checked = checked_step(secrets, event, nodes, PURPOSE_TAG, ROTATED)
    if checked is None:
        return
    arn, token, step, purpose = checked
    LOG.info("%s: secret %s (%s), version %s", step, arn, purpose, token)
    context = Context(purpose, list(nodes), sleep)
    waiting = Acknowledged(context.required_tags(), sleep, POLL_SECONDS, POLL_ATTEMPTS, PASSWORD_LENGTH, WHERE_TO_LOOK)
    STEPS[step](secrets, arn, token, waiting)


class Context:
    def __init__(self, purpose: str, nodes: list[str], sleep: Sleep):
        self.purpose, self.nodes, self.sleep = purpose, nodes, sleep

    def required_tags(self) -> list[str]:
        """Who must acknowledge: every node, and the leader for a database role."""
        names = node_tags(self.nodes)
        return [*names, LEADER_TAG] if self.purpose in DATABASE_ROLES else names
