"""Reading IAM policy documents (key, bucket, topic and identity policies) as the engine sends them: JSON text."""

import json
import re
from fnmatch import fnmatchcase
from typing import Any

from .props import UNKNOWN, IsUnknown, as_list

# Condition keys that pin an Allow to known callers, so a `*` principal behind one of them is not public.
RESTRICTING_CONDITION_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:SourceOrgID",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:userid",
        "kms:CallerAccount",
    )
)
_ACCOUNT_IN_PRINCIPAL = re.compile(r"^(?:arn:aws[\w-]*:iam::)?(\d{12})(?::|$)")


def parse(value: Any) -> dict[str, Any] | IsUnknown | None:
    """The policy as a dict; UNKNOWN while it is computed; None when absent or not a JSON object."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            document = json.loads(value)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None
    return None


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = as_list(document.get("Statement"))
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def _strings(value: Any) -> list[str]:
    found = as_list(value)
    return [v for v in found if isinstance(v, str)] if isinstance(found, list) else []


def principals(statement: dict[str, Any]) -> list[str]:
    """Every principal the statement names; `"*"` and `{"AWS": "*"}` both become `"*"`."""
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    if isinstance(principal, dict):
        return [p for values in principal.values() for p in _strings(values)]
    return []


def aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    return _strings(principal.get("AWS")) if isinstance(principal, dict) else []


def actions(statement: dict[str, Any]) -> list[str]:
    return [a.lower() for a in _strings(statement.get("Action"))]


def resources(statement: dict[str, Any]) -> list[str]:
    return _strings(statement.get("Resource"))


def allows(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def grants_action(statement: dict[str, Any], action: str) -> bool:
    """Whether the statement's Action patterns (wildcards allowed) cover `action`."""
    return any(fnmatchcase(action.lower(), pattern) for pattern in actions(statement))


def is_restricted_by_condition(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return False
    for operator in condition.values():
        if not isinstance(operator, dict):
            continue
        for key, value in operator.items():
            values = _strings(value) if not isinstance(value, bool) else []
            if key.lower() in RESTRICTING_CONDITION_KEYS and values and "*" not in values:
                return True
    return False


def public_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Allow statements anyone may use: principal `*` (or NotPrincipal) without a condition naming callers."""
    return [
        s
        for s in statements(document)
        if allows(s) and ("*" in principals(s) or "NotPrincipal" in s) and not is_restricted_by_condition(s)
    ]


def account_of(principal: str) -> str | None:
    match = _ACCOUNT_IN_PRINCIPAL.match(principal)
    return match.group(1) if match else None


def denies_insecure_transport(document: dict[str, Any]) -> bool:
    """A Deny for everyone when `aws:SecureTransport` is false (Security Hub S3.5)."""
    for statement in statements(document):
        if statement.get("Effect") != "Deny" or "*" not in principals(statement):
            continue
        condition = statement.get("Condition")
        if not isinstance(condition, dict):
            continue
        for operator, tests in condition.items():
            if operator.lower() not in ("bool", "boolifexists") or not isinstance(tests, dict):
                continue
            for key, value in tests.items():
                listed = as_list(value)
                values = {str(v).lower() for v in listed} if listed is not UNKNOWN else set()
                if key.lower() == "aws:securetransport" and "false" in values:
                    return True
    return False
