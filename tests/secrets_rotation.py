"""What Secrets Manager's RotateSecret does before it invokes a rotation function, done on moto's backend (moto's
own RotateSecret without a function would finish the rotation itself). Shared by the rotation handler tests."""

import time
import uuid

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends


def begin_rotation(arn: str, region: str, function_name: str, token: str | None = None, enable: bool = True) -> str:
    """Rotation on, the token staged AWSPENDING with no value yet; returns the token."""
    token = token or str(uuid.uuid4())
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][region].secrets[arn]
    assert isinstance(secret, FakeSecret)
    secret.rotation_requested, secret.rotation_enabled = True, enable
    secret.rotation_lambda_arn = f"arn:aws:lambda:{region}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"
    secret.auto_rotate_after_days = 30
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    return token


def cancel_rotation(arn: str, region: str) -> None:
    """CancelRotateSecret as Secrets Manager does it: the AWSPENDING label is removed (moto lacks the API)."""
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][region].secrets[arn]
    assert isinstance(secret, FakeSecret)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.rotation_requested = False
