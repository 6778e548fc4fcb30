"""Which failures are the user's input (usage) and which the machine's set-up (environment), each said in one line
that says what to do. Anything else is a bug and keeps its traceback."""

from typing import Any

from .exits import ENVIRONMENT, USAGE

# botocore's exception classes by name: the CLI's lazy commands import boto3, the entry point does not.
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "ProfileNotFound"}
_NO_REGION = {"NoRegionError"}
_UNREACHABLE = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "SSLError",
    "ProxyConnectionError",
}
_BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "RequestExpired",
    "AccessDenied",
    "AccessDeniedException",
}


def _botocore_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.startswith("botocore")}


def environment_error(exc: BaseException) -> str | None:
    """A one-line account of an AWS set-up problem, or None when `exc` is not one."""
    names = _botocore_names(exc)
    if not names:
        return None
    if names & _NO_CREDENTIALS:
        return (
            f"no usable AWS credentials ({exc}): set AWS_PROFILE, run `aws sso login` or `aws configure`, or run "
            "where an instance or task role applies, then run the command again"
        )
    if names & _NO_REGION:
        return "no AWS region: pass --region where the command has it, or set AWS_REGION (or AWS_DEFAULT_REGION)"
    if names & _UNREACHABLE:
        return f"cannot reach AWS ({exc}): check the network, proxy (HTTPS_PROXY) and AWS_ENDPOINT_URL settings"
    if "ClientError" in names:
        code = _client_error_code(exc)
        if code in _BAD_CREDENTIALS:
            return (
                f"AWS refused the credentials or their permissions ({code}: {_client_error_message(exc)}): refresh "
                "them (`aws sso login`) or use a role allowed to make this call"
            )
    return None


def _client_error_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _client_error_message(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).strip()


def classify(exc: BaseException) -> tuple[int, str, str] | None:
    """(exit code, kind, one-line message) for a usage or environment error; None for anything else."""
    from typer._click.exceptions import ClickException, UsageError

    if isinstance(exc, UsageError):
        return USAGE, "usage", _usage_line(exc)
    if isinstance(exc, ClickException):  # e.g. a file the command could not open
        return USAGE, "usage", exc.format_message()
    message = environment_error(exc)
    if message is not None:
        return ENVIRONMENT, "environment", message
    return None


def _usage_line(exc: Any) -> str:
    """`<message> (usage: <command usage>; see <command> --help)` in one line."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{message} (see `{ctx.command_path} --help`)"
