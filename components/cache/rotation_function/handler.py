"""Rotate the password of an ElastiCache RBAC user kept in a Secrets Manager secret (docs/cache.md#password-rotation).

Secrets Manager invokes this function four times per rotation with `{"SecretId", "ClientRequestToken", "Step"}`:

* `createSecret`: a new password (GetRandomPassword, letters and digits) in a version staged AWSPENDING under the
  token, with the same JSON as the current one (`{"username", "password", "userId"}`). Idempotent per token.
* `setSecret`: `ModifyUser(Passwords=[pending, current])`. ElastiCache keeps up to two passwords per user, so clients
  holding the current password keep authenticating while they pick up the new one; the next rotation drops it.
* `testSecret`: the user is `active` with two passwords and the pending secret is well formed (the function has no
  network path to the cache, see `test_secret`).
* `finishSecret`: AWSCURRENT moves to the token's version (Secrets Manager moves AWSPREVIOUS along with it).

Passwords and secret strings are never logged, nor put in an exception message. Only the standard library and boto3
(both in the python3.12 Lambda runtime) are used; the package is this file and the shared contract steps
(components/rotation/steps.py).
"""

import logging
import time
from collections.abc import Callable
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

LOG = logging.getLogger("cache_rotation")
LOG.setLevel(logging.INFO)
logging.getLogger("rotation").setLevel(logging.INFO)  # components/rotation/steps.py
# botocore logs request and response bodies at DEBUG: PutSecretValue's and GetSecretValue's are the password.
for _noisy in ("botocore", "boto3", "urllib3"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

REQUIRED_KEYS = ("username", "password", "userId")
# Letters and digits (~238 bits), like the passwords Pulumi generates (components/cache/component.py).
PASSWORD_LENGTH = 40
POLL_ATTEMPTS = 48
POLL_SECONDS = 5.0  # at most 4 minutes of waiting for the user to become active, inside the 5-minute timeout

Sleep = Callable[[float], None]


def handler(event: dict[str, Any], context: Any) -> None:
    secrets, elasticache = clients()
    rotate(event, secrets, elasticache)


def clients() -> tuple[Any, Any]:
    """Secrets Manager and ElastiCache clients (the VPC's interface endpoints or the NAT route reach both)."""
    return boto3.client("secretsmanager"), boto3.client("elasticache")


def rotate(event: dict[str, Any], secrets: Any, elasticache: Any, sleep: Sleep = time.sleep) -> None:
    """Run one step of the rotation contract, after the checks AWS's rotation templates make."""
    if pending_metadata(secrets, event) is None:
        return
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    LOG.info("%s: secret %s, version %s", step, arn, token)
    STEPS[step](secrets, elasticache, arn, token, sleep)


def create_secret(secrets: Any, elasticache: Any, arn: str, token: str, sleep: Sleep) -> None:
    """Put a new password in the token's version, staged AWSPENDING, unless that version already holds one."""
    current = secret_dict(secrets, arn, CURRENT)
    if create_pending(secrets, arn, token, current, PASSWORD_LENGTH):
        LOG.info("createSecret: new password for user %s stored in version %s of %s", current["userId"], token, arn)


def set_secret(secrets: Any, elasticache: Any, arn: str, token: str, sleep: Sleep) -> None:
    """Give the user both the pending and the current password, and wait until ElastiCache has applied them."""
    pending = secret_dict(secrets, arn, PENDING, token)
    current = secret_dict(secrets, arn, CURRENT)
    user_id = pending["userId"]
    if current["userId"] != user_id or current["username"] != pending["username"]:
        raise RotationError(f"the pending version {token} of {arn} names another user than the current one")
    wait_until_active(elasticache, user_id, sleep)  # ModifyUser fails on a user that is still `modifying`
    # The new password first, the one clients hold now second: both authenticate until the next rotation.
    elasticache.modify_user(UserId=user_id, Passwords=[pending["password"], current["password"]])
    wait_until_active(elasticache, user_id, sleep)
    LOG.info("setSecret: user %s accepts the pending and the current password", user_id)


def test_secret(secrets: Any, elasticache: Any, arn: str, token: str, sleep: Sleep) -> None:
    """What can be checked from here: the pending secret is well formed and the user is active with two passwords.

    The function runs in the app subnets with a security group that sends only HTTPS, and the cache admits its port
    only from the app security group, so it cannot AUTH against the cache to prove the new password works. That
    check is left to the clients: the old password keeps working until the next rotation, and a client that cannot
    authenticate with either shows up in the AuthenticationFailures alarm.
    """
    pending = secret_dict(secrets, arn, PENDING, token)
    user = describe_user(elasticache, pending["userId"])
    if user.get("Status") != "active":
        raise RotationError(f"user {pending['userId']} is {user.get('Status')!r}, not active")
    count = user.get("Authentication", {}).get("PasswordCount")
    if count != 2:
        raise RotationError(f"user {pending['userId']} has {count} passwords, expected 2 (pending and current)")
    LOG.info("testSecret: user %s is active with 2 passwords", pending["userId"])


def finish_secret(secrets: Any, elasticache: Any, arn: str, token: str, sleep: Sleep) -> None:
    """Move AWSCURRENT to the token's version, removing it from the version that holds it now."""
    move_current(secrets, arn, token)


STEPS: dict[str, Callable[[Any, Any, str, str, Sleep], None]] = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}


def secret_dict(secrets: Any, arn: str, stage: str, token: str | None = None) -> dict[str, Any]:
    """The version's JSON, checked for the keys rotation needs. Errors never quote the value."""
    return _secret_dict(secrets, arn, stage, token, REQUIRED_KEYS, " (see docs/cache.md)")


def describe_user(elasticache: Any, user_id: str) -> dict[str, Any]:
    users = elasticache.describe_users(UserId=user_id).get("Users", [])
    if len(users) != 1:
        raise RotationError(f"ElastiCache user {user_id} not found")
    return users[0]


def wait_until_active(elasticache: Any, user_id: str, sleep: Sleep) -> None:
    """Bounded polling: ElastiCache applies ModifyUser asynchronously (the user is `modifying` meanwhile)."""
    status = None
    for attempt in range(POLL_ATTEMPTS):
        status = describe_user(elasticache, user_id).get("Status")
        if status == "active":
            return
        if attempt < POLL_ATTEMPTS - 1:
            sleep(POLL_SECONDS)
    raise RotationError(f"user {user_id} is still {status!r} after {POLL_ATTEMPTS} checks")
