"""What Secrets Manager's RotateSecret does before it invokes a rotation function, done on moto's backend in the
process that holds it (moto's own RotateSecret would invoke the function in Docker, or, without one, finish the
rotation itself). Used in-process by the rotation handler tests (tests/secrets_rotation.py) and, through the route
`STAND_IN_ROUTE` of the TLS stand-in (scripts/servers/moto_tls.py), by tests whose nodes reach moto over the
network."""

from __future__ import annotations

import time
import uuid

STAND_IN_ROUTE = "/cryb-stand-in/begin-rotation"


def _secret(secret_id: str, region: str):
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][region].secrets[secret_id]
    assert isinstance(secret, FakeSecret)
    return secret


def begin_rotation(
    secret_id: str, region: str, function_arn: str, token: str | None = None, enable: bool = True
) -> str:
    """Rotation on, the token staged AWSPENDING with no value yet; returns the token."""
    token = token or str(uuid.uuid4())
    secret = _secret(secret_id, region)
    secret.rotation_requested, secret.rotation_enabled = True, enable
    secret.rotation_lambda_arn = function_arn
    secret.auto_rotate_after_days = 30
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


def cancel_rotation(secret_id: str, region: str) -> None:
    """CancelRotateSecret as Secrets Manager does it: the AWSPENDING label is removed (moto lacks the API)."""
    secret = _secret(secret_id, region)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.rotation_requested = False
