"""Secrets Manager: secrets are encrypted with a customer-managed key and rotate where a rotation exists."""

from collections.abc import Iterator

from pulumi_policy import EnforcementLevel, Severity

from .base import Config, RuleSet
from .graph import Stack
from .props import UNKNOWN, as_bool, as_number
from .resource import Resource

RULES = RuleSet()

SECRET = "aws:secretsmanager/secret:Secret"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"


@RULES.resource(
    types=(SECRET,),
    name="secretsmanager-secret-encrypted-with-cmk",
    description="Secrets are encrypted with a customer-managed key, so key policy decides who can read them.",
    controls=("CRYB.8",),
    severity=Severity.MEDIUM,
    remediation="Set kms_key_id to the stack's `secrets` KMS key ARN.",
)
def secretsmanager_secret_encrypted_with_cmk(resource: Resource, config: Config) -> Iterator[str]:
    if "kmsKeyId" not in resource.props:
        yield "kmsKeyId is not set (the AWS-managed aws/secretsmanager key): set kms_key_id to the `secrets` key."


@RULES.resource(
    types=(ROTATION,),
    name="secretsmanager-rotation-schedule",
    description="Secret rotations run at least every `maxRotationDays` days.",
    controls=("SecretsManager.1", "SecretsManager.4"),
    severity=Severity.MEDIUM,
    remediation="Set rotation_rules.automatically_after_days (or a schedule_expression) within the limit.",
    config_schema={"maxRotationDays": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 90}},
)
def secretsmanager_rotation_schedule(resource: Resource, config: Config) -> Iterator[str]:
    if as_bool(resource.get("rotationEnabled", default=True)) is False:
        yield "rotationEnabled is false: set rotation_enabled=True."
    days = as_number(resource.get("rotationRules", "automaticallyAfterDays"))
    limit = float(config["maxRotationDays"])
    if days is not UNKNOWN and days is not None and days > limit:
        yield f"rotationRules.automaticallyAfterDays is {days:g}: rotate at least every {limit:g} days."


# A secret may go without rotation only for a reason of this list, named in its `rotation-exempt` tag.
ROTATION_EXEMPT_TAG = "rotation-exempt"
DEFAULT_EXEMPT_REASONS = [
    "issued-by-third-party",  # e.g. Slack/Discord webhook URLs: only their issuer can make new ones
    "encrypts-existing-backups",  # a repository cipher passphrase: a new one could not read the old backups
    "certificate-authority",  # a CA (certificate and key): the nodes renew the certificates it signs; replacing
    # the CA itself is a planned change of trust on every member at once, not a timed rotation
]


@RULES.stack(
    name="secretsmanager-every-secret-rotates",
    description="Every secret has an automatic rotation, unless its `rotation-exempt` tag names an allowed reason "
    "why the credential cannot rotate.",
    controls=("SecretsManager.1",),
    severity=Severity.MEDIUM,
    remediation="Add aws.secretsmanager.SecretRotation for the secret, or use RDS-managed master passwords "
    "(manage_master_user_password=True), which rotate on their own; only a credential that cannot rotate gets "
    f"the `{ROTATION_EXEMPT_TAG}` tag with one of `exemptReasons`.",
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema={"exemptReasons": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_EXEMPT_REASONS}},
)
def secretsmanager_every_secret_rotates(stack: Stack, config: Config) -> Iterator[tuple[Resource | None, str]]:
    reasons = list(config["exemptReasons"])
    for secret in stack.of_type(SECRET):
        if stack.referrers(secret, (ROTATION,), ("secretId",)) or stack.maybe_referrers(
            secret, (ROTATION,), ("secretId",)
        ):
            continue
        tags = secret.get("tags", default={})
        if tags is UNKNOWN:
            continue
        reason = tags.get(ROTATION_EXEMPT_TAG) if isinstance(tags, dict) else None
        if reason in reasons:
            continue
        if reason is not None:
            yield secret, f"{ROTATION_EXEMPT_TAG}={reason!r} is not an accepted reason ({', '.join(reasons)})."
            continue
        yield secret, "no SecretRotation for this secret: add one (or document why the credential cannot rotate)."
