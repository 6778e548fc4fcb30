"""The four rotation steps of a secret that the nodes apply themselves and acknowledge with tags on the secret: the
self-hosted Patroni clusters' credentials (components/selfhosted/rotation_function/, the nodes' cryb-pg-credentials)
and the self-hosted cache's ACL users (components/cache/node_rotation_function/, the nodes' cryb-cache-credentials).

* `createSecret`: a new password (letters and digits) in a version staged AWSPENDING under the token, same JSON as
  the current one. Idempotent per token. From now on the nodes' agents treat the pending version as effective.
* `setSecret`: waits (bounded) until every required tag (`cryb-rotation-<node>`, and whatever else the caller
  requires) names the token. If they do not in time, it withdraws the pending version (the agents go back to the
  current one) and fails.
* `testSecret`: the acknowledgements still name the token (no node has fallen back since). On an AWSPENDING version
  without a value (Secrets Manager testing the configuration of a rotation that does not start at once), the
  caller's configuration checks are all there is to test.
* `finishSecret`: AWSCURRENT moves to the token's version; the acknowledgement tags are removed.

Shipped inside each function's archive beside steps.py, so standard library only. Messages name secrets, versions
and tags, never a value.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from components.rotation.steps import (
    CURRENT,
    PENDING,
    RotationError,
    create_pending,
    move_current,
    pending_metadata,
    secret_dict,
)

LOG = logging.getLogger("rotation")
TAG_PREFIX = "cryb-rotation-"
"""Tags the nodes acknowledge a pending version with (`cryb-rotation-<node>` = version id); finishSecret removes
them. The node agents, which cannot import this module where they run, spell it out; tests check they agree."""
PURPOSE_TAG = "secret-purpose"
REQUIRED_KEYS = ("username", "password")

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Acknowledged:
    """How one rotation function waits for its nodes."""

    required_tags: Sequence[str]
    """Tags that must name the token before the pending version may become current."""
    sleep: Sleep
    poll_seconds: float
    poll_attempts: int
    password_length: int
    where_to_look: str
    """Said when the nodes do not acknowledge, e.g. `the nodes' cryb-pg-credentials log (docs/...)`."""


def node_tags(nodes: Sequence[str]) -> list[str]:
    """The acknowledgement tag of each node."""
    return [f"{TAG_PREFIX}{node}" for node in nodes]


def tags_of(metadata: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in metadata.get("Tags", [])}


def checked_step(
    secrets: Any, event: dict[str, Any], nodes: Sequence[str], tag: str, rotated: frozenset[str]
) -> tuple[str, str, str, str] | None:
    """What every node-acknowledged rotation checks before a step: the function names its nodes, the event's version
    is pending (AWS's rotation templates' checks), and the secret's `tag` is one of `rotated`. Returns the secret's
    ARN, the token, the step and the tag's value, or None when the version needs nothing more."""
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if not nodes:
        raise RotationError("CLUSTER_NODES names no node: the function cannot know whom to wait for")
    metadata = pending_metadata(secrets, event)
    if metadata is None:
        return None
    value = tags_of(metadata).get(tag)
    if value not in rotated:
        raise RotationError(f"secret {arn} has {tag}={value!r}; this function rotates {sorted(rotated)}")
    return arn, token, step, value


def missing_acknowledgements(secrets: Any, arn: str, token: str, context: Acknowledged) -> list[str]:
    tags = tags_of(secrets.describe_secret(SecretId=arn))
    return [name for name in context.required_tags if tags.get(name) != token]


def create_secret(secrets: Any, arn: str, token: str, context: Acknowledged) -> None:
    """Put a new password in the token's version, staged AWSPENDING, unless that version already holds one."""
    current = secret_dict(secrets, arn, CURRENT, None, REQUIRED_KEYS)
    if create_pending(secrets, arn, token, current, context.password_length):
        LOG.info("createSecret: new password for %s stored in version %s of %s", current["username"], token, arn)


def set_secret(secrets: Any, arn: str, token: str, context: Acknowledged) -> None:
    """Wait until every required tag names the token."""
    pending = secret_dict(secrets, arn, PENDING, token, REQUIRED_KEYS)
    current = secret_dict(secrets, arn, CURRENT, None, REQUIRED_KEYS)
    if pending["username"] != current["username"]:
        raise RotationError(f"the pending version {token} of {arn} names another user than the current one")
    missing: list[str] = []
    for attempt in range(context.poll_attempts):
        missing = missing_acknowledgements(secrets, arn, token, context)
        if not missing:
            LOG.info("setSecret: %s acknowledged version %s", ", ".join(context.required_tags), token)
            return
        if attempt < context.poll_attempts - 1:
            context.sleep(context.poll_seconds)
    # Give up and take the pending version back: the agents return to the current one on their next run, so clients
    # reading AWSCURRENT keep working. The next scheduled rotation starts over.
    secrets.update_secret_version_stage(SecretId=arn, VersionStage=PENDING, RemoveFromVersionId=token)
    raise RotationError(
        f"version {token} of {arn} not acknowledged by {', '.join(missing)} after {context.poll_attempts} checks; "
        f"the pending version was withdrawn: see {context.where_to_look}"
    )


def test_secret(secrets: Any, arn: str, token: str, context: Acknowledged) -> None:
    """The agents proved the password; check nobody has fallen back since.

    An AWSPENDING version without a value is Secrets Manager testing the rotation configuration (a SecretRotation
    created with rotate_immediately=False): the agents ignore such a version, and the configuration checks the
    caller made (rotation enabled, purpose, nodes, version staged) are what there is to test.
    """
    try:
        secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
    except secrets.exceptions.ResourceNotFoundException:
        LOG.info("testSecret: version %s of %s has no value: configuration test passed", token, arn)
        return
    secret_dict(secrets, arn, PENDING, token, REQUIRED_KEYS)
    missing = missing_acknowledgements(secrets, arn, token, context)
    if missing:
        raise RotationError(f"version {token} of {arn} is no longer acknowledged by {', '.join(missing)}")
    LOG.info("testSecret: version %s of %s is in use on every node", token, arn)


def finish_secret(secrets: Any, arn: str, token: str, context: Acknowledged) -> None:
    """Move AWSCURRENT to the token's version, removing it from the version that holds it now; drop the acks."""
    move_current(secrets, arn, token)
    stale = [key for key in tags_of(secrets.describe_secret(SecretId=arn)) if key.startswith(TAG_PREFIX)]
    if stale:
        secrets.untag_resource(SecretId=arn, TagKeys=stale)


STEPS: dict[str, Callable[[Any, str, str, Acknowledged], None]] = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}
