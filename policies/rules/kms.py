"""KMS: customer-managed keys (rotation, deletion window, key policy) and IAM policies that use keys."""

import re
from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .documents import allows, grants_action, parse, public_statements, resources, statements
from .props import UNKNOWN, as_bool, as_number
from .resource import Resource

RULES = RuleSet()

KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
IAM_POLICIES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
    "aws:iam/role:Role",
)
DECRYPT_ACTIONS = ("kms:Decrypt", "kms:ReEncryptFrom")
_ALL_KEYS = re.compile(r"^\*$|^arn:aws[\w-]*:kms:[^:]*:[^:]*:(key/)?\*$")


@RULES.resource(
    types=(KEY,),
    name="kms-key-rotation-enabled",
    description="Symmetric customer-managed keys rotate automatically at least every `maxRotationPeriodDays`.",
    controls=("KMS.4",),
    severity=Severity.MEDIUM,
    remediation="Set enable_key_rotation=True and rotation_period_in_days within the limit (365 by default).",
    config_schema={"maxRotationPeriodDays": {"type": "integer", "minimum": 90, "maximum": 2560, "default": 365}},
)
def kms_key_rotation_enabled(resource: Resource, config: Config) -> Iterator[str]:
    if resource.get("customerMasterKeySpec", default="SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return  # AWS rotates only symmetric encryption keys
    if as_bool(resource.get("enableKeyRotation", default=False)) is False:
        yield "enableKeyRotation is not true: set enable_key_rotation=True."
        return
    period = as_number(resource.get("rotationPeriodInDays", default=365))
    limit = float(config["maxRotationPeriodDays"])
    if period is not UNKNOWN and period is not None and period > limit:
        yield f"rotationPeriodInDays is {period:g}: set rotation_period_in_days to at most {limit:g}."


@RULES.resource(
    types=(KEY,),
    name="kms-key-deletion-window",
    description="Keys wait at least `minDeletionWindowDays` after being scheduled for deletion, time to cancel.",
    controls=("KMS.3",),
    severity=Severity.HIGH,
    remediation="Set deletion_window_in_days to at least the configured minimum (30 in prod).",
    config_schema={"minDeletionWindowDays": {"type": "integer", "minimum": 7, "maximum": 30, "default": 30}},
)
def kms_key_deletion_window(resource: Resource, config: Config) -> Iterator[str]:
    days = as_number(resource.get("deletionWindowInDays", default=30))  # AWS default: 30 days
    minimum = float(config["minDeletionWindowDays"])
    if days is not UNKNOWN and days is not None and days < minimum:
        yield f"deletionWindowInDays is {days:g}: set deletion_window_in_days to at least {minimum:g}."
    if as_bool(resource.get("isEnabled", default=True)) is False:
        yield "isEnabled is false: a disabled key makes everything it encrypts unreadable; enable it or remove it."


@RULES.resource(
    types=(KEY, KEY_POLICY),
    name="kms-key-policy-not-public",
    description="Key policies grant nothing to `*` unless a condition pins the caller's account or source.",
    controls=("KMS.5",),
    severity=Severity.CRITICAL,
    remediation="Name principals in the key policy, or add a kms:CallerAccount / aws:SourceAccount condition.",
)
def kms_key_policy_not_public(resource: Resource, config: Config) -> Iterator[str]:
    document = parse(resource.get("policy"))
    if document is UNKNOWN or document is None:
        return  # no policy: AWS applies the default policy (the account only)
    for statement in public_statements(document):
        sid = statement.get("Sid", "(no Sid)")
        yield f"statement {sid!r} allows any principal: restrict it by principal or condition."


@RULES.resource(
    types=IAM_POLICIES,
    name="iam-no-kms-decrypt-on-all-keys",
    description="IAM policies allow kms:Decrypt / kms:ReEncryptFrom only on named keys, never on every key.",
    controls=("KMS.1", "KMS.2"),
    severity=Severity.MEDIUM,
    remediation="List the key ARNs the principal needs in Resource instead of '*'.",
)
def iam_no_kms_decrypt_on_all_keys(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == "aws:iam/role:Role":
        inline = resource.get("inlinePolicies", default=[])
        policies = [p.get("policy") for p in inline if isinstance(p, dict)] if isinstance(inline, list) else []
    else:
        policies = [resource.get("policy")]
    for value in policies:
        document = parse(value)
        if document is UNKNOWN or document is None:
            continue
        for statement in statements(document):
            granted = [a for a in DECRYPT_ACTIONS if grants_action(statement, a)]
            if allows(statement) and granted and any(_ALL_KEYS.match(r) for r in resources(statement)):
                yield f"statement {statement.get('Sid', '(no Sid)')!r} allows {granted} on all keys: list key ARNs."
