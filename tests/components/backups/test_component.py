"""The Backups component on the recorded graph of a dev-like and a prod-like stack (mock engine; the program and
its stack config are in program.py). The Object Lock behaviour of the recorded settings against moto is in
tests/real/test_backups.py.
"""

import inspect
import json
from functools import cache
from pathlib import Path
from typing import Any

import pulumi_aws
import pytest

from components.config.errors import ConfigError
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from tests.components.backups.program import (
    COMPONENT,
    STACK_CONFIG,
    config_of,
    graphs_fixture,  # noqa: F401 - fixture
    of,
    program_dir_fixture,  # noqa: F401 - fixture
    write_stack,
)

DR_PROVIDER = "cryb-dr"
REQUIRED_TAGS = {"environment", "service", "owner", "data-classification"}


@pytest.fixture(params=["dev", "prod"])
def graph(request: pytest.FixtureRequest, graphs: dict[str, Evaluation]) -> Evaluation:
    return graphs[request.param]


@pytest.fixture()
def prod(graphs: dict[str, Evaluation]) -> Evaluation:
    return graphs["prod"]


@pytest.fixture()
def dev(graphs: dict[str, Evaluation]) -> Evaluation:
    return graphs["dev"]


def by_arn(graph: Evaluation, arn: str) -> RecordedResource:
    found = [r for r in graph.resources if _mock_arn(r) == arn]
    assert len(found) == 1, arn
    return found[0]


def _mock_arn(resource: RecordedResource) -> str:
    """The ARN the mock engine gives a resource (scripts/preview/mock_engine.py: the region of its provider; the only
    explicit provider here is the DR region's, us-west-2)."""
    name, kind = resource.name, resource.type.split(":")[-1]
    region = "us-west-2" if resource.provider else "us-east-1"
    special = {
        "aws:s3/bucket:Bucket": f"arn:aws:s3:::{name}",
        "aws:iam/role:Role": f"arn:aws:iam::123456789012:role/{name}",
        "aws:backup/vault:Vault": f"arn:aws:backup:{region}:123456789012:backup-vault:{name}",
    }
    service = resource.type.split(":")[1].split("/")[0]
    return special.get(resource.type, f"arn:aws:{service}:{region}:123456789012:{kind.lower()}/{name}")


def is_backup_bucket(bucket: RecordedResource) -> bool:
    return not bucket.name.endswith("access-logs")


def dr_provider_urn(graph: Evaluation) -> str:
    provider = graph.named(DR_PROVIDER)
    return f"{provider.urn}::{provider.id}"


@cache
def is_taggable(type_token: str) -> bool:
    """Whether the provider SDK's resource class takes `tags` (read from its constructor)."""
    _, module_path, class_name = type_token.split(":")
    module = getattr(pulumi_aws, module_path.split("/")[0])
    init = getattr(module, class_name)._internal_init
    return "tags" in inspect.signature(init).parameters


def policy(resource: RecordedResource, key: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[key])


# --- structure -----------------------------------------------------------------------------------------------------


def test_component_owns_every_resource_and_creates_no_provider(graph: Evaluation) -> None:
    (component,) = graph.of_type("cryb:backups:Backups")
    assert component.name == COMPONENT
    for resource in graph.resources:
        if resource.type.startswith("pulumi:providers:"):
            assert resource.parent is None, "providers come from the program, never from the component"
            continue
        if resource is component:
            continue
        assert component in list(graph.ancestors(resource)), resource.name
        assert resource.name.startswith(f"{COMPONENT}-"), resource.name


def test_every_taggable_child_carries_the_required_tags(graph: Evaluation) -> None:
    taggable = [r for r in graph.resources if r.type.startswith("aws:") and is_taggable(r.type)]
    assert {r.type.split(":")[-1] for r in taggable} >= {"Bucket", "Key", "Role", "Vault", "Plan"}
    for resource in taggable:
        tags = resource.inputs.get("tags", {})
        assert REQUIRED_TAGS <= set(tags), f"{resource.name}: {tags}"
        assert tags.get("Name") == resource.name


# --- buckets -------------------------------------------------------------------------------------------------------


def test_bucket_counts(prod: Evaluation, dev: Evaluation) -> None:
    assert sorted(b.name for b in of(prod, "Bucket")) == [
        f"{COMPONENT}-access-logs",
        f"{COMPONENT}-bucket",
        f"{COMPONENT}-replica",
        f"{COMPONENT}-replica-access-logs",
    ]
    assert sorted(b.name for b in of(dev, "Bucket")) == [f"{COMPONENT}-access-logs", f"{COMPONENT}-bucket"]


def test_every_bucket_is_private_owner_enforced_versioned_and_cmk_encrypted(graph: Evaluation) -> None:
    for bucket in of(graph, "Bucket"):
        assert bucket.inputs.get("forceDestroy") is False
        block = config_of(graph, "BucketPublicAccessBlock", bucket).inputs
        assert all(
            block[flag] is True
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        assert config_of(graph, "BucketOwnershipControls", bucket).inputs["rule"] == {
            "objectOwnership": "BucketOwnerEnforced"
        }
        assert config_of(graph, "BucketVersioning", bucket).inputs["versioningConfiguration"] == {"status": "Enabled"}
        assert config_of(graph, "BucketNotification", bucket).inputs["eventbridge"] is True
        (rule,) = config_of(graph, "BucketServerSideEncryptionConfiguration", bucket).inputs["rules"]
        assert rule["bucketKeyEnabled"] is True
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        key = by_arn(graph, rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"])
        assert key.type == "aws:kms/key:Key" and key.inputs["enableKeyRotation"] is True
        assert key.provider == bucket.provider  # a key in the bucket's own region
        assert all(
            rule["status"] == "Enabled"
            for rule in config_of(graph, "BucketLifecycleConfiguration", bucket).inputs["rules"]
        )
        assert config_of(graph, "BucketPolicy", bucket)  # every bucket denies plain HTTP (checked below)


def test_each_bucket_has_its_own_key(graph: Evaluation) -> None:
    keys = [
        config_of(graph, "BucketServerSideEncryptionConfiguration", b).inputs["rules"][0][
            "applyServerSideEncryptionByDefault"
        ]["kmsMasterKeyId"]
        for b in of(graph, "Bucket")
    ]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(("stack", "mode", "days"), [("prod", "COMPLIANCE", 35), ("dev", "GOVERNANCE", 3)])
def test_object_lock_mode_per_environment(graphs: dict[str, Evaluation], stack: str, mode: str, days: int) -> None:
    graph = graphs[stack]
    for bucket in of(graph, "Bucket"):
        if not is_backup_bucket(bucket):
            # S3 refuses to deliver access logs to a bucket with Object Lock.
            assert not bucket.inputs.get("objectLockEnabled")
            assert not [r for r in of(graph, "BucketObjectLockConfiguration") if r.inputs["bucket"] == bucket.id]
            continue
        assert bucket.inputs["objectLockEnabled"] is True
        lock = config_of(graph, "BucketObjectLockConfiguration", bucket).inputs
        assert lock["objectLockEnabled"] == "Enabled"
        assert lock["rule"] == {"defaultRetention": {"mode": mode, "days": float(days)}}


def test_backup_bucket_policy_statements(graph: Evaluation) -> None:
    for bucket in filter(is_backup_bucket, of(graph, "Bucket")):
        arn = f"arn:aws:s3:::{bucket.name}"
        key = config_of(graph, "BucketServerSideEncryptionConfiguration", bucket).inputs["rules"][0][
            "applyServerSideEncryptionByDefault"
        ]["kmsMasterKeyId"]
        statements = {s["Sid"]: s for s in policy(config_of(graph, "BucketPolicy", bucket))["Statement"]}
        assert all(s["Effect"] == "Deny" and s["Principal"] == "*" for s in statements.values())
        assert statements["DenyInsecureTransport"]["Resource"] == [arn, f"{arn}/*"]
        assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        sse = statements["DenyUploadsWithoutSseKms"]
        assert (sse["Action"], sse["Resource"]) == ("s3:PutObject", f"{arn}/*")
        assert sse["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
        other_key = statements["DenyUploadsNotNamingThisKey"]
        assert other_key["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key}}


def test_lifecycle_tiers_down_and_expires_noncurrent_versions_after_the_lock(graph: Evaluation) -> None:
    days = STACK_CONFIG[graph.stack].get("objectLockDays", 35)
    for bucket in filter(is_backup_bucket, of(graph, "Bucket")):
        rules = {r["id"]: r for r in config_of(graph, "BucketLifecycleConfiguration", bucket).inputs["rules"]}
        assert [t["storageClass"] for t in rules["tier-down-to-colder-classes"]["transitions"]] == [
            "STANDARD_IA",
            "GLACIER_IR",
        ]
        expiry = rules["expire-noncurrent-versions-after-lock"]["noncurrentVersionExpiration"]["noncurrentDays"]
        assert expiry > days
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] > 0


def test_access_logs_go_to_a_log_bucket_in_the_same_region_that_admits_only_them(graph: Evaluation) -> None:
    for bucket in filter(is_backup_bucket, of(graph, "Bucket")):
        logging = config_of(graph, "BucketLogging", bucket).inputs
        log_bucket = graph.named(logging["targetBucket"])  # mock bucket names equal resource names
        assert not is_backup_bucket(log_bucket) and log_bucket.provider == bucket.provider
        assert logging["targetPrefix"] == f"s3-access/{bucket.name}/"
        (allow,) = [
            s for s in policy(config_of(graph, "BucketPolicy", log_bucket))["Statement"] if s["Effect"] == "Allow"
        ]
        assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert allow["Condition"]["ArnLike"] == {"aws:SourceArn": [f"arn:aws:s3:::{bucket.name}"]}
        assert allow["Resource"] == f"arn:aws:s3:::{log_bucket.name}/s3-access/*"


# --- DR region -----------------------------------------------------------------------------------------------------

DR_RESOURCES = (
    "replica",
    "replica-key",
    "replica-access-logs",
    "replica-access-logs-key",
    "dr-vault",
    "dr-vault-key",
    "dr-vault-lock",
)


def test_replica_side_is_created_through_the_dr_provider_only(prod: Evaluation) -> None:
    provider = prod.named(DR_PROVIDER)
    assert provider.inputs["region"] == "us-west-2"
    dr = dr_provider_urn(prod)
    on_dr = {r.name for r in prod.resources if r.provider == dr}
    for label in DR_RESOURCES:
        assert f"{COMPONENT}-{label}" in on_dr
    replica = prod.named(f"{COMPONENT}-replica")
    for short in ("BucketVersioning", "BucketObjectLockConfiguration", "BucketPolicy", "BucketLogging",
                  "BucketPublicAccessBlock", "BucketOwnershipControls", "BucketLifecycleConfiguration"):  # fmt: skip
        assert config_of(prod, short, replica).provider == dr
    primary_side = [r for r in prod.resources if r.custom and r.name not in on_dr and r.name != DR_PROVIDER]
    assert primary_side and all(r.provider is None for r in primary_side)  # the program's default provider


def test_dev_has_no_dr_side(dev: Evaluation) -> None:
    assert not dev.of_type("pulumi:providers:aws")
    assert not of(dev, "BucketReplicationConfig")
    assert len(of(dev, "Vault")) == 1
    assert dev.outputs["backups"]["replicaBucketName"] is None and dev.outputs["backups"]["drVaultArn"] is None


def test_replication_to_the_replica_re_encrypts_with_the_replica_key(prod: Evaluation) -> None:
    (replication,) = of(prod, "BucketReplicationConfig")
    primary, replica = prod.named(f"{COMPONENT}-bucket"), prod.named(f"{COMPONENT}-replica")
    assert replication.inputs["bucket"] == primary.id and replication.provider is None
    (rule,) = replication.inputs["rules"]
    replica_key = config_of(prod, "BucketServerSideEncryptionConfiguration", replica).inputs["rules"][0][
        "applyServerSideEncryptionByDefault"
    ]["kmsMasterKeyId"]
    assert rule["status"] == "Enabled" and rule["filter"] == {}
    assert rule["destination"]["bucket"] == f"arn:aws:s3:::{replica.name}"
    assert rule["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": replica_key}
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
    assert rule["destination"]["replicationTime"]["status"] == "Enabled"

    role = by_arn(prod, replication.inputs["role"])
    (trust,) = policy(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:s3:::{primary.name}"}
    (inline,) = [p for p in of(prod, "RolePolicy") if p.inputs["role"] == role.id]
    statements = {s["Sid"]: s for s in policy(inline)["Statement"]}
    assert statements["WriteReplicas"]["Resource"] == f"arn:aws:s3:::{replica.name}/*"
    assert statements["EncryptReplicasWithDestinationKey"]["Resource"] == replica_key
    assert statements["EncryptReplicasWithDestinationKey"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.us-west-2.amazonaws.com"
    }
    assert "s3:ReplicateDelete" not in json.dumps(policy(inline))


def test_writer_role_writes_only_under_its_prefix(graph: Evaluation) -> None:
    (writer,) = [r for r in of(graph, "Role") if r.name == f"{COMPONENT}-writer-pgbackrest"]
    (inline,) = [p for p in of(graph, "RolePolicy") if p.inputs["role"] == writer.id]
    statements = {s["Sid"]: s for s in policy(inline)["Statement"]}
    bucket = f"arn:aws:s3:::{COMPONENT}-bucket"
    assert statements["ReadWriteOwnPrefix"]["Resource"] == f"{bucket}/pgbackrest/*"
    assert statements["DenyWritesOutsideOwnPrefix"]["NotResource"] == f"{bucket}/pgbackrest/*"
    assert statements["ListOwnPrefixOnly"]["Condition"] == {
        "StringLike": {"s3:prefix": ["pgbackrest/", "pgbackrest/*"]}
    }
    assert "s3:DeleteObjectVersion" in statements["DenyDestroyingBackups"]["Action"]
    assert policy(writer, "assumeRolePolicy")["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}


def test_no_role_is_allowed_everything(graph: Evaluation) -> None:
    for inline in of(graph, "RolePolicy"):
        for statement in policy(inline)["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if a in ("*", "s3:*", "kms:*")], inline.name
            assert statement.get("Resource") not in ("*", ["*"]), inline.name


# --- AWS Backup ----------------------------------------------------------------------------------------------------


def test_vaults_use_their_own_cmk_and_are_locked_only_in_prod(graph: Evaluation) -> None:
    vaults = of(graph, "Vault")
    for vault in vaults:
        key = by_arn(graph, vault.inputs["kmsKeyArn"])
        assert key.name == f"{vault.name}-key" and key.inputs["enableKeyRotation"] is True
        assert vault.inputs["forceDestroy"] is False
    locks = of(graph, "VaultLockConfiguration")
    if graph.stack == "prod":
        assert sorted(lock.inputs["backupVaultName"] for lock in locks) == sorted(v.name for v in vaults)
        assert all(lock.inputs["changeableForDays"] == 3 and lock.inputs["minRetentionDays"] == 7 for lock in locks)
    else:
        assert locks == []


def test_plan_rules_and_copy_to_the_dr_vault(graph: Evaluation) -> None:
    (plan,) = of(graph, "Plan")
    rules = {r["ruleName"]: r for r in plan.inputs["rules"]}
    assert list(rules) == ["daily", "weekly", "monthly"]
    expected = {"prod": (35, 90, 365), "dev": (7, 14, 35)}[graph.stack]
    assert tuple(r["lifecycle"]["deleteAfter"] for r in rules.values()) == expected
    assert rules["daily"]["schedule"] == "cron(0 3 * * ? *)"
    assert all(r["targetVaultName"] == f"{COMPONENT}-vault" for r in rules.values())
    if graph.stack == "prod":
        dr_vault = graph.named(f"{COMPONENT}-dr-vault")
        for rule in rules.values():
            (copy,) = rule["copyActions"]
            assert copy["destinationVaultArn"] == _mock_arn(dr_vault)
            assert copy["lifecycle"] == rule["lifecycle"]
    else:
        assert not any("copyActions" in r for r in rules.values())


def test_selection_picks_tagged_rds_instances_with_the_backup_role(graph: Evaluation) -> None:
    (selection,) = of(graph, "Selection")
    assert selection.inputs["planId"] == graph.named(f"{COMPONENT}-plan").id
    assert selection.inputs["resources"] == ["arn:aws:rds:us-east-1:123456789012:db:*"]
    assert selection.inputs["conditions"] == [
        {"stringEquals": [{"key": "aws:ResourceTag/backup-plan", "value": "cryb-db-rds"}]}
    ]
    role = by_arn(graph, selection.inputs["iamRoleArn"])
    (trust,) = policy(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    (attachment,) = [a for a in of(graph, "RolePolicyAttachment") if a.inputs["role"] == role.name]
    assert attachment.inputs["policyArn"].endswith("/AWSBackupServiceRolePolicyForBackup")


def test_restore_testing_restores_the_latest_rds_recovery_point_monthly(graph: Evaluation) -> None:
    (plan,) = of(graph, "RestoreTestingPlan")
    assert plan.inputs["scheduleExpression"] == "cron(0 6 2 * ? *)"  # monthly, the day after the monthly backup
    selection_rule = plan.inputs["recoveryPointSelection"]
    assert selection_rule["algorithm"] == "LATEST_WITHIN_WINDOW"
    assert selection_rule["includeVaults"] == [_mock_arn(graph.named(f"{COMPONENT}-vault"))]
    assert selection_rule["recoveryPointTypes"] == ["SNAPSHOT"]
    assert plan.inputs["name"].replace("_", "").isalnum()
    (selection,) = of(graph, "RestoreTestingSelection")
    assert selection.inputs["restoreTestingPlanName"] == plan.inputs["name"]
    assert selection.inputs["protectedResourceType"] == "RDS"
    assert selection.inputs["validationWindowHours"] == 4
    assert selection.inputs["protectedResourceConditions"] == {
        "stringEquals": [{"key": "aws:ResourceTag/backup-plan", "value": "cryb-db-rds"}]
    }
    overrides = selection.inputs["restoreMetadataOverrides"]
    assert overrides["dbsubnetgroupname"] == "cryb-t-db"
    assert json.loads(overrides["vpcsecuritygroupids"]) == ["sg-postgres"]
    assert overrides["publiclyaccessible"] == "false"
    role = by_arn(graph, selection.inputs["iamRoleArn"])
    (attachment,) = [a for a in of(graph, "RolePolicyAttachment") if a.inputs["role"] == role.name]
    assert attachment.inputs["policyArn"].endswith("/AWSBackupServiceRolePolicyForRestores")


def test_a_dr_region_equal_to_the_primary_is_refused(program_dir: Path, tmp_path: Path) -> None:
    stack_file = write_stack(tmp_path, "prod", {"drRegion": "us-east-1"})
    with pytest.raises(ConfigError, match=r"drRegion = 'us-east-1': must differ from aws:region"):
        evaluate("prod", stack_file, program_dir=program_dir)
