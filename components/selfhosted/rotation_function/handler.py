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
file and the shared contract steps (components/rotation/steps.py).
"""

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import boto3

from components.rotation.steps import (
    CURRENT,
    PENDING,
    RotationError,
    create_pending,
    move_current,
    pending_metadata,
)
from components.rotation.steps import secret_dict as _secret_dict

LOG = logging.getLogger("patroni_rotation")
LOG.setLevel(logging.INFO)
logging.getLogger("rotation").setLevel(logging.INFO)  # components/rotation/steps.py
for _noisy in ("botocore", "boto3", "urllib3"):  # botocore's DEBUG would print secret values
    logging.getLogger(_noisy).setLevel(logging.WARNING)

TAG_PREFIX = "cryb-rotation-"
LEADER_TAG = f"{TAG_PREFIX}leader"
PURPOSE_TAG = "secret-purpose"
REQUIRED_KEYS = ("username", "password")
# The application roles (components/postgres/roles.py) rotate like the admin: the leader's agent sets them.
DATABASE_ROLES = frozenset({"superuser", "replication", "rewind", "admin", "app", "readonly", "monitor", "migrator"})
ROTATED = DATABASE_ROLES | {"restapi"}
PASSWORD_LENGTH = 40  # letters and digits, like the first passwords (components/selfhosted/component.py)
# Every 2 s: the leader sets a database password once every node runs with it, and clients reading AWSCURRENT get
# the old one until finishSecret, so this interval is how long new connections of such clients may fail.
POLL_SECONDS = 2.0
POLL_ATTEMPTS = 390  # 13 minutes: the agents run every 30 s; the function's timeout is 15 minutes

Sleep = Callable[[float], None]


def handler(event: dict[str, Any], context: Any) -> None:
    nodes = [n for n in os.environ.get("CLUSTER_NODES", "").split(",") if n]
    rotate(event, boto3.client("secretsmanager"), nodes)


def rotate(event: dict[str, Any], secrets: Any, nodes: Sequence[str], sleep: Sleep = time.sleep) -> None:
    """Run one step of the rotation contract, after the checks AWS's rotation templates make."""
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if not nodes:
        raise RotationError("CLUSTER_NODES names no node: the function cannot know whom to wait for")
    metadata = pending_metadata(secrets, event)
    if metadata is None:
        return
    purpose = tags_of(metadata).get(PURPOSE_TAG)
    if purpose not in ROTATED:
        raise RotationError(f"secret {arn} has {PURPOSE_TAG}={purpose!r}; this function rotates {sorted(ROTATED)}")
    LOG.info("%s: secret %s (%s), version %s", step, arn, purpose, token)
    STEPS[step](secrets, arn, token, Context(purpose, list(nodes), sleep))


class Context:
    def __init__(self, purpose: str, nodes: list[str], sleep: Sleep):
        self.purpose, self.nodes, self.sleep = purpose, nodes, sleep

    def required_tags(self) -> list[str]:
        """Who must acknowledge: every node, and the leader for a database role."""
        names = [f"{TAG_PREFIX}{node}" for node in self.nodes]
        return [*names, LEADER_TAG] if self.purpose in DATABASE_ROLES else names


def tags_of(metadata: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in metadata.get("Tags", [])}


def missing_acknowledgements(secrets: Any, arn: str, token: str, context: Context) -> list[str]:
    tags = tags_of(secrets.describe_secret(SecretId=arn))
    return [name for name in context.required_tags() if tags.get(name) != token]


def create_secret(secrets: Any, arn: str, token: str, context: Context) -> None:
    """Put a new password in the token's version, staged AWSPENDING, unless that version already holds one."""
    current = secret_dict(secrets, arn, CURRENT)
    if create_pending(secrets, arn, token, current, PASSWORD_LENGTH):
        LOG.info("createSecret: new password for %s stored in version %s of %s", current["username"], token, arn)


def set_secret(secrets: Any, arn: str, token: str, context: Context) -> None:
    """Wait until every node runs with the pending password and, for a database role, the leader has set it."""
    pending = secret_dict(secrets, arn, PENDING, token)
    current = secret_dict(secrets, arn, CURRENT)
    if pending["username"] != current["username"]:
        raise RotationError(f"the pending version {token} of {arn} names another user than the current one")
    missing: list[str] = []
    for attempt in range(POLL_ATTEMPTS):
        missing = missing_acknowledgements(secrets, arn, token, context)
        if not missing:
            LOG.info("setSecret: %s acknowledged version %s", ", ".join(context.required_tags()), token)
            return
        if attempt < POLL_ATTEMPTS - 1:
            context.sleep(POLL_SECONDS)
    # Give up and take the pending version back: the agents return to the current one on their next run (the leader
    # sets it again if it had set the pending one), so clients reading AWSCURRENT keep working. The next scheduled
    # rotation starts over.
    secrets.update_secret_version_stage(SecretId=arn, VersionStage=PENDING, RemoveFromVersionId=token)
    raise RotationError(
        f"version {token} of {arn} not acknowledged by {', '.join(missing)} after {POLL_ATTEMPTS} checks; "
        "the pending version was withdrawn: see the nodes' cryb-pg-credentials log "
        "(docs/selfhosted.md#credential-rotation)"
    )


def test_secret(secrets: Any, arn: str, token: str, context: Context) -> None:
    """The agents proved the password (the leader by logging in with it); check nobody has fallen back since.

    An AWSPENDING version without a value is Secrets Manager testing the rotation configuration (a SecretRotation
    created with rotate_immediately=False): the agents ignore such a version, and the configuration checks made in
    `rotate` (rotation enabled, purpose, nodes, version staged) are what there is to test.
    """
    try:
        secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
    except secrets.exceptions.ResourceNotFoundException:
        LOG.info("testSecret: version %s of %s has no value: configuration test passed", token, arn)
        return
    secret_dict(secrets, arn, PENDING, token)
    missing = missing_acknowledgements(secrets, arn, token, context)
    if missing:
        raise RotationError(f"version {token} of {arn} is no longer acknowledged by {', '.join(missing)}")
    LOG.info("testSecret: version %s of %s is in use on every node", token, arn)


def finish_secret(secrets: Any, arn: str, token: str, context: Context) -> None:
    """Move AWSCURRENT to the token's version, removing it from the version that holds it now; drop the acks."""
    move_current(secrets, arn, token)
    stale = [key for key in tags_of(secrets.describe_secret(SecretId=arn)) if key.startswith(TAG_PREFIX)]
    if stale:
        secrets.untag_resource(SecretId=arn, TagKeys=stale)


STEPS: dict[str, Callable[[Any, str, str, Context], None]] = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}


def secret_dict(secrets: Any, arn: str, stage: str, token: str | None = None) -> dict[str, Any]:
    """The version's JSON, checked for the keys rotation needs. Errors never quote the value."""
    return _secret_dict(secrets, arn, stage, token, REQUIRED_KEYS)
