"""What Secrets Manager's RotateSecret does before it invokes a rotation function, done on moto's in-process backend
(scripts/servers/secrets_rotation.py). Shared by the rotation handler tests."""

from moto.core.models import DEFAULT_ACCOUNT_ID

from scripts.servers import secrets_rotation
from scripts.servers.secrets_rotation import cancel_rotation

__all__ = ["begin_rotation", "cancel_rotation"]


def begin_rotation(arn: str, region: str, function_name: str, token: str | None = None, enable: bool = True) -> str:
    """Rotation on, the token staged AWSPENDING with no value yet; returns the token."""
    function_arn = f"arn:aws:lambda:{region}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"
    return secrets_rotation.begin_rotation(arn, region, function_arn, token, enable)
