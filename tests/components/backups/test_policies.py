"""Pure tests of the backup documents (components/backups/policies.py) and the `cryb-db:backups` config section.

Policies are checked as data and, for the statements that decide uploads and prefixes, through a small evaluator
of the IAM condition operators they use: moto evaluates bucket policies but not their condition keys, so it
cannot prove these statements (issue 8).
"""

import fnmatch
import json
from typing import Any

import pytest
from pydantic import ValidationError

from components.backups.policies import (
    BACKUP_SELECTION_TAG,
    WRITER_DENIED_ACTIONS,
    BackupRule,
    LifecycleSettings,
    access_log_bucket_policy,
    access_log_key_policy,
    access_log_lifecycle_rules,
    backup_bucket_policy,
    backup_lifecycle_rules,
    backup_plan_rules,
    bucket_key_policy,
    rds_restore_overrides,
    rds_selection_conditions,
    rds_selection_resources,
    replication_role_policy,
    restore_testing_name,
    service_trust_policy,
    vault_key_policy,
    writer_role_policy,
)
from components.config.backups import BackupsConfig, check_backups_for_stack
from components.config.errors import ConfigError, describe

ACCOUNT = "123456789012"
BUCKET = "arn:aws:s3:::cryb-prod-backups-bucket-1a2b3c"
KEY = "arn:aws:kms:us-east-1:123456789012:key/primary"
OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/someone-elses"
REPLICA = "arn:aws:s3:::cryb-prod-backups-replica-4d5e6f"
REPLICA_KEY = "arn:aws:kms:us-west-2:123456789012:key/replica"
DR = "us-west-2"


def as_data(document: Any) -> Any:
    """A typed provider input as the plain JSON the engine receives."""
    return json.loads(json.dumps(document))


# --- a minimal evaluator for the condition operators these policies use ------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    wanted = [str(v) for v in _as_list(expected)]
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if key not in context:
        # Negated operators and ...IfExists match an absent key; the others do not.
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    actual = context[key]
    if base == "Bool":
        return actual.lower() in [w.lower() for w in wanted]
    if base == "StringEquals":
        return actual in wanted
    if base == "StringNotEquals":
        return actual not in wanted
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    if base == "NumericLessThan":
        return float(actual) < float(wanted[0])
    raise AssertionError(f"evaluator does not know {operator}")


def _matches(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if not any(fnmatch.fnmatchcase(action, a) for a in _as_list(statement["Action"])):
        return False
    if "Resource" in statement and not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["NotResource"])):
        return False
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, pairs in statement.get("Condition", {}).items()
        for key, expected in pairs.items()
    )


def decision(policy: dict[str, Any], action: str, resource: str, **context: str) -> str:
    """'deny' (explicit), 'allow' or 'implicit' for one request."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _matches(s, action, resource, context) for s in statements):
        return "deny"
    if any(s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in statements):
        return "allow"
    return "implicit"


HTTPS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
SSE, SSE_KEY = "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id"
VIA, S3_CONTEXT = "kms:ViaService", "kms:EncryptionContext:aws:s3:arn"


# --- bucket policy -------------------------------------------------------------------------------------------------


def test_bucket_policy_statements_as_data() -> None:
    policy = backup_bucket_policy(BUCKET, KEY)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert set(by_sid) == {
        "DenyInsecureTransport",
        "DenyTlsOlderThan12",
        "DenyUploadsWithoutSseKms",
        "DenyUploadsNotNamingThisKey",
    }
    assert all(s["Effect"] == "Deny" and s["Principal"] == "*" for s in policy["Statement"])  # grants nothing
    assert by_sid["DenyInsecureTransport"]["Action"] == "s3:*"
    assert by_sid["DenyInsecureTransport"]["Resource"] == [BUCKET, f"{BUCKET}/*"]
    assert by_sid["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["DenyUploadsWithoutSseKms"]["Action"] == "s3:PutObject"
    assert by_sid["DenyUploadsWithoutSseKms"]["Condition"] == {"StringNotEquals": {SSE: "aws:kms"}}
    assert by_sid["DenyUploadsNotNamingThisKey"]["Action"] == "s3:PutObject"
    assert by_sid["DenyUploadsNotNamingThisKey"]["Condition"] == {"StringNotEquals": {SSE_KEY: KEY}}


@pytest.mark.parametrize(
    ("action", "context", "expected"),
    [
        ("s3:PutObject", {**HTTPS, SSE: "aws:kms", SSE_KEY: KEY}, "implicit"),  # the only upload let through
        ("s3:PutObject", {**HTTPS, SSE: "aws:kms"}, "deny"),  # S3 would use the aws/s3 key
        ("s3:PutObject", {**HTTPS}, "deny"),  # no SSE header at all
        ("s3:PutObject", {**HTTPS, SSE: "AES256"}, "deny"),
        ("s3:PutObject", {**HTTPS, SSE: "aws:kms", SSE_KEY: OTHER_KEY}, "deny"),
        ("s3:PutObject", {"aws:SecureTransport": "false", SSE: "aws:kms", SSE_KEY: KEY}, "deny"),
        ("s3:GetObject", {"aws:SecureTransport": "false", "s3:TlsVersion": "0"}, "deny"),
        ("s3:GetObject", {"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"}, "deny"),
        ("s3:GetObject", {**HTTPS}, "implicit"),
        ("s3:ReplicateObject", {**HTTPS}, "implicit"),  # replication is not an upload: not blocked by the SSE rules
    ],
)  # fmt: skip
def test_bucket_policy_decides_uploads(action: str, context: dict[str, str], expected: str) -> None:
    assert decision(backup_bucket_policy(BUCKET, KEY), action, f"{BUCKET}/pgbackrest/archive/x", **context) == expected


def test_access_log_bucket_admits_only_the_logging_service_for_our_buckets() -> None:
    log = "arn:aws:s3:::cryb-prod-backups-access-logs"
    policy = access_log_bucket_policy(log, [BUCKET], ACCOUNT)
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == f"{log}/s3-access/*"
    assert allow["Condition"] == {
        "ArnLike": {"aws:SourceArn": [BUCKET]},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    assert {s["Sid"] for s in policy["Statement"]} >= {"DenyInsecureTransport"}
    write = dict(HTTPS, **{"aws:SourceArn": BUCKET, "aws:SourceAccount": ACCOUNT})
    assert decision(policy, "s3:PutObject", f"{log}/s3-access/b/x", **write) == "allow"
    assert decision(policy, "s3:PutObject", f"{log}/s3-access/b/x", **{**write, "aws:SourceArn": REPLICA}) == "implicit"
    assert decision(policy, "s3:PutObject", f"{log}/elsewhere/x", **write) == "implicit"


# --- key policies --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "services"),
    [
        (bucket_key_policy(ACCOUNT, "us-west-2"), ["s3.us-west-2.amazonaws.com"]),
        (vault_key_policy(ACCOUNT, "us-east-1"), ["backup.us-east-1.amazonaws.com", "rds.us-east-1.amazonaws.com"]),
    ],
)
def test_key_policies_let_account_principals_use_keys_only_through_their_service(
    policy: dict[str, Any], services: list[str]
) -> None:
    root, *others = policy["Statement"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    for statement in others:
        assert statement["Principal"] == {"AWS": "*"}
        equals = statement["Condition"]["StringEquals"]
        assert equals["kms:CallerAccount"] == ACCOUNT  # never another account (KMS.5)
        assert _as_list(equals["kms:ViaService"]) == services
        assert "kms:*" not in _as_list(statement["Action"])


def test_access_log_key_admits_the_logging_service_for_this_account_only() -> None:
    statement = access_log_key_policy(ACCOUNT, "us-east-1")["Statement"][-1]
    assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert set(statement["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


def test_vault_key_grants_only_for_aws_resources() -> None:
    grants = next(s for s in vault_key_policy(ACCOUNT, "us-east-1")["Statement"] if "kms:CreateGrant" in s["Action"])
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


# --- roles ---------------------------------------------------------------------------------------------------------


def _allows(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if s["Effect"] == "Allow"]


def test_replication_role_is_least_privilege() -> None:
    policy = replication_role_policy(
        source_bucket_arn=BUCKET,
        destination_bucket_arn=REPLICA,
        source_key_arn=KEY,
        destination_key_arn=REPLICA_KEY,
        source_region="us-east-1",
        destination_region="us-west-2",
    )
    actions = {a for s in _allows(policy) for a in _as_list(s["Action"])}
    assert "s3:ReplicateDelete" not in actions  # delete markers stay in the primary
    assert not any(a.endswith("*") and a.startswith("s3:") for a in actions)
    assert all(s.get("Resource") not in ("*", ["*"]) for s in policy["Statement"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteReplicas"]["Resource"] == f"{REPLICA}/*"
    assert set(by_sid["ReadSourceVersions"]["Action"]) >= {"s3:GetObjectRetention", "s3:GetObjectLegalHold"}
    decrypt, encrypt = by_sid["DecryptSourceObjects"], by_sid["EncryptReplicasWithDestinationKey"]
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", KEY)
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert encrypt["Resource"] == REPLICA_KEY and "kms:Decrypt" not in encrypt["Action"]
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    # Re-encryption works with and without S3 Bucket Keys (bucket ARN vs object ARN as encryption context).
    assert encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [REPLICA, f"{REPLICA}/*"]
    context = {"kms:ViaService": "s3.us-west-2.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": REPLICA}
    assert decision(policy, "kms:Encrypt", REPLICA_KEY, **context) == "allow"
    assert decision(policy, "kms:Encrypt", KEY, **context) == "implicit"
    assert (
        decision(policy, "kms:Encrypt", REPLICA_KEY, **{**context, "kms:ViaService": "ec2.us-west-2.amazonaws.com"})
        == "implicit"
    )


def test_trust_policies_pin_the_service_and_the_account() -> None:
    trust = service_trust_policy("s3.amazonaws.com", ACCOUNT, BUCKET)
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": BUCKET},
    }
    assert "ArnLike" not in service_trust_policy("backup.amazonaws.com", ACCOUNT)["Statement"][0]["Condition"]


@pytest.mark.parametrize(
    ("action", "resource", "context", "expected"),
    [
        ("s3:PutObject", f"{BUCKET}/pgbackrest/archive/000001", {}, "allow"),
        ("s3:GetObject", f"{BUCKET}/pgbackrest/backup.info", {}, "allow"),
        ("s3:DeleteObject", f"{BUCKET}/pgbackrest/old", {}, "allow"),  # a delete marker; the version stays locked
        ("s3:PutObject", f"{BUCKET}/walg/000001", {}, "deny"),
        ("s3:PutObject", f"{BUCKET}/pgbackrest-other/x", {}, "deny"),
        ("s3:PutObject", "arn:aws:s3:::some-other-bucket/pgbackrest/x", {}, "deny"),
        ("s3:GetObject", f"{BUCKET}/walg/x", {}, "implicit"),
        ("s3:DeleteObjectVersion", f"{BUCKET}/pgbackrest/x", {}, "deny"),
        ("s3:BypassGovernanceRetention", f"{BUCKET}/pgbackrest/x", {}, "deny"),
        ("s3:PutObjectRetention", f"{BUCKET}/pgbackrest/x", {}, "deny"),
        ("s3:PutBucketPolicy", BUCKET, {}, "deny"),
        ("s3:ListBucket", BUCKET, {"s3:prefix": "pgbackrest/archive/"}, "allow"),
        ("s3:ListBucket", BUCKET, {"s3:prefix": "walg/"}, "implicit"),
        ("s3:ListBucket", BUCKET, {}, "implicit"),  # listing the whole bucket
        ("kms:GenerateDataKey", KEY, {VIA: "s3.us-east-1.amazonaws.com", S3_CONTEXT: BUCKET}, "allow"),
        ("kms:GenerateDataKey", KEY, {VIA: "ec2.us-east-1.amazonaws.com", S3_CONTEXT: BUCKET}, "implicit"),
        ("kms:GenerateDataKey", KEY, {VIA: "s3.us-east-1.amazonaws.com", S3_CONTEXT: REPLICA}, "implicit"),
        ("kms:Decrypt", OTHER_KEY, {VIA: "s3.us-east-1.amazonaws.com", S3_CONTEXT: BUCKET}, "implicit"),
    ],
)  # fmt: skip
def test_writer_role_stays_inside_its_prefix(
    action: str, resource: str, context: dict[str, str], expected: str
) -> None:
    policy = writer_role_policy(bucket_arn=BUCKET, prefix="pgbackrest", kms_key_arn=KEY, region="us-east-1")
    assert decision(policy, action, resource, **context) == expected


def test_writer_role_never_allows_destroying_versions() -> None:
    policy = writer_role_policy(bucket_arn=BUCKET, prefix="walg", kms_key_arn=KEY, region="us-east-1")
    allowed = {a for s in _allows(policy) for a in _as_list(s["Action"])}
    assert not allowed & set(WRITER_DENIED_ACTIONS)
    assert all("*" not in a for a in allowed)


@pytest.mark.parametrize("prefix", ["", "a/b", "*", "x*"])
def test_writer_prefix_must_be_a_plain_name(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        writer_role_policy(bucket_arn=BUCKET, prefix=prefix, kms_key_arn=KEY, region="us-east-1")


# --- lifecycle -----------------------------------------------------------------------------------------------------

SETTINGS = LifecycleSettings(
    object_lock_days=35,
    infrequent_access_after_days=30,
    cold_storage_after_days=90,
    cold_storage_class="GLACIER_IR",
    abort_incomplete_uploads_after_days=7,
)


def test_lifecycle_tiers_down_expires_after_the_lock_and_cleans_up() -> None:
    rules = {r["id"]: r for r in as_data(backup_lifecycle_rules(SETTINGS))}
    assert all(r["status"] == "Enabled" and r["filter"] == {} for r in rules.values())
    assert rules["tier-down-to-colder-classes"]["transitions"] == [
        {"days": 30, "storage_class": "STANDARD_IA"},
        {"days": 90, "storage_class": "GLACIER_IR"},
    ]
    noncurrent = rules["expire-noncurrent-versions-after-lock"]["noncurrent_version_expiration"]["noncurrent_days"]
    assert noncurrent > SETTINGS.object_lock_days
    assert rules["abort-incomplete-multipart-uploads"]["abort_incomplete_multipart_upload"] == {
        "days_after_initiation": 7
    }
    assert rules["remove-expired-delete-markers"]["expiration"] == {"expired_object_delete_marker": True}
    assert not any("days" in r.get("expiration", {}) for r in rules.values())  # current backups never age out here


def test_lifecycle_refuses_a_cold_transition_too_soon_after_infrequent_access() -> None:
    with pytest.raises(ValueError, match="cold_storage_after_days"):
        backup_lifecycle_rules(LifecycleSettings(35, 30, 45, "GLACIER", 7))


def test_access_logs_expire_after_their_retention() -> None:
    rules = {r["id"]: r for r in as_data(access_log_lifecycle_rules(365, 3))}
    assert rules["expire-access-logs"]["expiration"] == {"days": 365}
    assert rules["abort-incomplete-multipart-uploads"]["abort_incomplete_multipart_upload"] == {
        "days_after_initiation": 3
    }


# --- AWS Backup ----------------------------------------------------------------------------------------------------

RULES = [
    BackupRule("daily", "cron(0 3 * * ? *)", 35),
    BackupRule("weekly", "cron(0 4 ? * SUN *)", 90),
    BackupRule("monthly", "cron(0 5 1 * ? *)", 365, copy_to_dr=False),
]


def test_plan_rules_keep_each_rule_for_its_retention_and_copy_to_dr() -> None:
    dr_vault = "arn:aws:backup:us-west-2:123456789012:backup-vault:dr"
    rules = {r["rule_name"]: r for r in as_data(backup_plan_rules(RULES, "vault", dr_vault, {"stack": "prod"}))}
    assert list(rules) == ["daily", "weekly", "monthly"]
    assert {n: r["lifecycle"]["delete_after"] for n, r in rules.items()} == {"daily": 35, "weekly": 90, "monthly": 365}
    assert all(r["target_vault_name"] == "vault" for r in rules.values())
    assert rules["daily"]["copy_actions"] == [{"destination_vault_arn": dr_vault, "lifecycle": {"delete_after": 35}}]
    assert "copy_actions" not in rules["monthly"]
    assert rules["weekly"]["recovery_point_tags"] == {"stack": "prod", "backup-rule": "weekly"}


def test_plan_rules_without_a_dr_vault_copy_nothing() -> None:
    assert not any("copy_actions" in r for r in backup_plan_rules(RULES, "vault", None, {}))


def test_plan_rule_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        backup_plan_rules([RULES[0], RULES[0]], "vault", None, {})


def test_selection_is_rds_instances_and_the_tag() -> None:
    assert BACKUP_SELECTION_TAG == ("backup-plan", "cryb-db-rds")  # the shards carry this tag (docs/backups.md)
    assert rds_selection_conditions() == [
        {"string_equals": [{"key": "aws:ResourceTag/backup-plan", "value": "cryb-db-rds"}]}
    ]
    assert rds_selection_resources("us-east-1", ACCOUNT) == ["arn:aws:rds:us-east-1:123456789012:db:*"]


def test_restore_overrides_place_the_test_instance_privately_in_the_data_subnets() -> None:
    overrides = rds_restore_overrides("cryb-prod-db", ["sg-1", "sg-2"], "db.t4g.medium")
    assert overrides == {
        "dbsubnetgroupname": "cryb-prod-db",
        "vpcsecuritygroupids": '["sg-1","sg-2"]',
        "publiclyaccessible": "false",
        "multiaz": "false",
        "dbinstanceclass": "db.t4g.medium",
    }
    assert "dbinstanceclass" not in rds_restore_overrides("g", ["sg"], None)


def test_restore_testing_names_use_only_letters_digits_and_underscores() -> None:
    assert restore_testing_name("cryb-prod-backups_rds") == "cryb_prod_backups_rds"
    assert len(restore_testing_name("x-" * 40)) == 50


# --- config section ------------------------------------------------------------------------------------------------


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        BackupsConfig.model_validate(data)
    return describe(caught.value, BackupsConfig, data).problems


def test_defaults_are_the_secure_production_values() -> None:
    config = BackupsConfig()
    assert config.object_lock_mode_for("prod") == "COMPLIANCE"
    assert config.object_lock_mode_for("dev") == "GOVERNANCE"
    assert config.vault_lock_for("prod") is not None and config.vault_lock_for("dev") is None
    assert config.restore_testing.enabled and config.replication_time_control
    assert config.plan.daily.retention_days <= config.plan.weekly.retention_days <= config.plan.monthly.retention_days


def test_explicit_settings_win_over_the_environment_defaults() -> None:
    config = BackupsConfig.model_validate({"objectLockMode": "COMPLIANCE", "vaultLock": {"enabled": True}})
    assert config.object_lock_mode_for("dev") == "COMPLIANCE"
    assert config.vault_lock_for("dev") is not None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"coldStorageAfterDays": 70, "infrequentAccessAfterDays": 60},
            "coldStorageAfterDays = 70: must be at least infrequentAccessAfterDays + 30 (90)",
        ),
        (
            {"plan": {"daily": {"schedule": "cron(0 3 * * ? *)", "retentionDays": 500}}},
            "daily.retentionDays = 500: must be within vaultLock.minRetentionDays..maxRetentionDays (7..400)",
        ),
        (
            {"vaultLock": {"minRetentionDays": 30, "maxRetentionDays": 20}},
            "vaultLock.maxRetentionDays = 20: must be >= minRetentionDays (30)",
        ),
        ({"vaultLock": {"changeableForDays": 1}}, "vaultLock.changeableForDays = 1: must be >= 3"),
        ({"drRegion": "Oregon"}, "drRegion = 'Oregon': must be an AWS region name"),
        ({"writerPrefixes": ["pg/backrest"]}, "writerPrefixes = ['pg/backrest']"),
        ({"writerPrefixes": ["a", "a"]}, "must not repeat a prefix"),
        (
            {"plan": {"weekly": {"schedule": "weekly", "retentionDays": 90}}},
            "plan.weekly.schedule = 'weekly': must be an AWS cron expression",
        ),
        ({"restoreTesting": {"validationWindowHours": 200}}, "validationWindowHours = 200: must be <= 168"),
        ({"restoreTesting": {"instanceClass": "t4g.medium"}}, "instanceClass = 't4g.medium': must be an RDS instance"),
        ({"objectLockMode": "FOREVER"}, "objectLockMode = 'FOREVER': must be one of"),
        ({"objectLockDayz": 3}, "objectLockDayz: unknown key (did you mean 'objectLockDays'?)"),
    ],
)  # fmt: skip
def test_invalid_values_name_the_key_value_and_what_is_allowed(data: dict[str, Any], expected: str) -> None:
    problems = _problems(data)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("data", "environment", "expected"),
    [
        ({}, "prod", "cryb-db:backups.drRegion: required in prod"),
        ({"drRegion": "us-east-1"}, "dev", "backups.drRegion = 'us-east-1': must differ from aws:region ('us-east-1')"),
        ({"drRegion": DR, "objectLockMode": "GOVERNANCE"}, "prod", "'GOVERNANCE': must be 'COMPLIANCE'"),
        ({"drRegion": DR, "vaultLock": {"enabled": False}}, "prod", "vaultLock.enabled = False: must be true"),
        ({"drRegion": DR, "restoreTesting": {"enabled": False}}, "prod", "restoreTesting.enabled = False"),
    ],
)  # fmt: skip
def test_stack_rules_need_environment_and_region(data: dict[str, Any], environment: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_backups_for_stack(BackupsConfig.model_validate(data), environment=environment, region="us-east-1")
    assert any(expected in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("data", "environment", "breaking", "expected"),
    [
        # each valid stack, and the one change (of environment or region) that breaks it
        ({"drRegion": "us-west-2"}, "prod", {"region": "us-west-2"}, "drRegion = 'us-west-2': must differ"),
        ({}, "dev", {"environment": "prod"}, "cryb-db:backups.drRegion: required in prod"),
    ],
)
def test_valid_stacks_pass_the_stack_rules(
    data: dict[str, Any], environment: str, breaking: dict[str, str], expected: str
) -> None:
    backups = BackupsConfig.model_validate(data)
    context = {"environment": environment, "region": "us-east-1"}
    check_backups_for_stack(backups, **context)  # raises ConfigError on any problem
    with pytest.raises(ConfigError) as caught:
        check_backups_for_stack(backups, **{**context, **breaking})
    assert [p for p in caught.value.problems if expected in p] == caught.value.problems, caught.value.problems


def test_every_field_is_documented() -> None:
    models = [BackupsConfig, *(type(getattr(BackupsConfig(), n)) for n in ("plan", "vault_lock", "restore_testing"))]
    from components.config.backups import BackupRuleConfig

    for model in [*models, BackupRuleConfig]:
        undocumented = [name for name, field in model.model_fields.items() if not field.description]
        assert not undocumented, f"{model.__name__}: {undocumented}"
