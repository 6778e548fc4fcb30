"""The parts of the Secrets Manager rotation contract every rotation function shares (the ElastiCache users',
components/cache/rotation_function/, and the Patroni clusters', components/selfhosted/rotation_function/): the checks
AWS's rotation templates make before a step, createSecret and finishSecret.

Shipped inside each function's archive (components/rotation/function.py), so standard library and boto3 only.
Messages name secrets and versions, never a value.
"""

import json
import logging
from collections.abc import Sequence
from typing import Any

LOG = logging.getLogger("rotation")
PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
STEP_NAMES = ("createSecret", "setSecret", "testSecret", "finishSecret")


class RotationError(Exception):
    """A rotation step cannot go on. The message names the secret, the version and the user, never a secret value."""


def pending_metadata(secrets: Any, event: dict[str, Any]) -> dict[str, Any] | None:
    """DescribeSecret of the event's secret once the event may go on: a known step, rotation enabled, the token a
    version staged AWSPENDING. None when that version is already AWSCURRENT (a retried finished rotation)."""
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step not in STEP_NAMES:
        raise RotationError(f"unknown rotation step {step!r} for secret {arn}")
    metadata = secrets.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"secret {arn} does not have rotation enabled")
    versions: dict[str, list[str]] = metadata.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"secret {arn} has no version {token} to rotate to")
    if CURRENT in versions[token]:
        LOG.info("%s: version %s of %s is already AWSCURRENT, nothing to do", step, token, arn)
        return None
    if PENDING not in versions[token]:
        raise RotationError(f"version {token} of secret {arn} is not staged AWSPENDING")
    return metadata


def secret_dict(
    secrets: Any, arn: str, stage: str, token: str | None, required: Sequence[str], hint: str = ""
) -> dict[str, Any]:
    """The version's JSON, checked for the `required` string keys. Errors never quote the value."""
    request: dict[str, str] = {"SecretId": arn, "VersionStage": stage}
    if token is not None:
        request["VersionId"] = token
    value = secrets.get_secret_value(**request)
    try:
        data = json.loads(value["SecretString"])
    except (KeyError, TypeError, ValueError):
        raise RotationError(f"the {stage} version of {arn} is not a JSON secret string") from None
    if not isinstance(data, dict):
        raise RotationError(f"the {stage} version of {arn} is not a JSON object")
    missing = [key for key in required if not isinstance(data.get(key), str) or not data[key]]
    if missing:
        raise RotationError(f"the {stage} version of {arn} lacks {', '.join(missing)}{hint}")
    return data


def create_pending(secrets: Any, arn: str, token: str, current: dict[str, Any], password_length: int) -> bool:
    """createSecret: a new password (letters and digits) in the token's version, staged AWSPENDING, with the rest of
    the current JSON. Idempotent per token: False when that version already holds a value."""
    try:
        secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
        LOG.info("createSecret: version %s of %s already has a value, kept", token, arn)
        return False
    except secrets.exceptions.ResourceNotFoundException:
        pass
    password = secrets.get_random_password(
        PasswordLength=password_length, ExcludePunctuation=True, IncludeSpace=False, RequireEachIncludedType=True
    )["RandomPassword"]
    secrets.put_secret_value(
        SecretId=arn,
        ClientRequestToken=token,
        SecretString=json.dumps({**current, "password": password}),
        VersionStages=[PENDING],
    )
    return True


def move_current(secrets: Any, arn: str, token: str) -> None:
    """finishSecret: AWSCURRENT moves to the token's version, removed from the version that holds it now (Secrets
    Manager moves AWSPREVIOUS along)."""
    versions: dict[str, list[str]] = secrets.describe_secret(SecretId=arn).get("VersionIdsToStages", {})
    current = next((version for version, stages in versions.items() if CURRENT in stages), None)
    if current == token:
        LOG.info("finishSecret: version %s of %s is already AWSCURRENT", token, arn)
        return
    secrets.update_secret_version_stage(
        SecretId=arn, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=current
    )
    LOG.info("finishSecret: version %s of %s is now AWSCURRENT (was %s)", token, arn, current)
