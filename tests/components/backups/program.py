"""The small program the Backups tests evaluate: it wires the component the way `__main__.py` does (a DR provider
created by the program and passed in), with the `cryb-db:backups` values proposed for Pulumi.dev.yaml /
Pulumi.prod.yaml. Shared by tests/components/backups/test_component.py (the recorded graph) and
tests/real/test_backups.py (its Object Lock settings against moto).

`program_dir_fixture` and `graphs_fixture` are the `program_dir` and `graphs` fixtures: a test module imports both
to use `graphs`.
"""

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from scripts.mock_engine import Evaluation, RecordedResource, evaluate

PROGRAM = """
import pulumi
import pulumi_aws as aws

from components.backups.policies import BackupRule, LifecycleSettings
from components.backups.component import Backups, RestoreTestingSettings, VaultLockSettings
from components.config.backups import BackupsConfig, check_backups_for_stack

config = pulumi.Config("cryb-db")
environment = config.require("environment")
region = pulumi.Config("aws").require("region")
backups_config = BackupsConfig.model_validate(config.get_object("backups") or {})
check_backups_for_stack(backups_config, environment=environment, region=region)
tags = {"environment": environment, "service": "cryb-db", "owner": "platform-team",
        "data-classification": "confidential", "managed-by": "pulumi", "stack": environment}
dr = None
if backups_config.dr_region:
    dr = {"region": backups_config.dr_region,
          "provider": aws.Provider("cryb-dr", region=backups_config.dr_region, default_tags={"tags": tags})}
lock, testing = backups_config.vault_lock_for(environment), backups_config.restore_testing
backups = Backups(
    "cryb-t-backups",
    {
        "account_id": "123456789012",
        "region": region,
        "object_lock_mode": backups_config.object_lock_mode_for(environment),
        "lifecycle": LifecycleSettings(
            object_lock_days=backups_config.object_lock_days,
            infrequent_access_after_days=backups_config.infrequent_access_after_days,
            cold_storage_after_days=backups_config.cold_storage_after_days,
            cold_storage_class=backups_config.cold_storage_class,
            abort_incomplete_uploads_after_days=backups_config.abort_incomplete_uploads_after_days,
        ),
        "access_log_retention_days": backups_config.access_log_retention_days,
        "writer_prefixes": backups_config.writer_prefixes,
        "replication_time_control": backups_config.replication_time_control,
        "kms_deletion_window_days": 30 if environment == "prod" else 7,
        "kms_rotation_period_days": 365,
        "backup_rules": [BackupRule(name, rule.schedule, rule.retention_days, rule.copy_to_dr)
                         for name, rule in backups_config.plan.rules().items()],
        "vault_lock": VaultLockSettings(lock.min_retention_days, lock.max_retention_days, lock.changeable_for_days)
        if lock else None,
        "restore_testing": RestoreTestingSettings(testing.schedule, testing.start_window_hours,
                                                  testing.selection_window_days, testing.validation_window_hours,
                                                  testing.instance_class) if testing.enabled else None,
        "restore_db_subnet_group_name": "cryb-t-db",
        "restore_security_group_ids": ["sg-postgres"],
        "tags": tags,
        "dr": dr,
    },
)
pulumi.export("backups", {"bucketName": backups.bucket_name, "replicaBucketName": backups.replica_bucket_name,
                          "vaultArn": backups.vault_arn, "drVaultArn": backups.dr_vault_arn})
"""

# The `cryb-db:backups` keys proposed for the real stack files.
STACK_CONFIG = {
    "prod": {"drRegion": "us-west-2"},
    "dev": {
        "objectLockDays": 3,
        "accessLogRetentionDays": 30,
        "plan": {
            "daily": {"schedule": "cron(0 3 * * ? *)", "retentionDays": 7},
            "weekly": {"schedule": "cron(0 4 ? * SUN *)", "retentionDays": 14},
            "monthly": {"schedule": "cron(0 5 1 * ? *)", "retentionDays": 35},
        },
    },
}
COMPONENT = "cryb-t-backups"


def write_stack(directory: Path, stack: str, backups: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(
        json.dumps({"config": {"aws:region": "us-east-1", "cryb-db:environment": stack, "cryb-db:backups": backups}})
    )
    return path


@pytest.fixture(scope="module", name="program_dir")
def program_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("backups-program")
    (directory / "__main__.py").write_text(textwrap.dedent(PROGRAM))
    return directory


@pytest.fixture(scope="module", name="graphs")
def graphs_fixture(program_dir: Path) -> dict[str, Evaluation]:
    return {
        stack: evaluate(stack, write_stack(program_dir, stack, backups), program_dir=program_dir)
        for stack, backups in STACK_CONFIG.items()
    }


# --- helpers over the recorded graph -------------------------------------------------------------------------------


def of(graph: Evaluation, short: str) -> list[RecordedResource]:
    """Resources whose type ends with `:Short` (e.g. "Bucket", "BucketPolicy")."""
    return [r for r in graph.resources if r.type.endswith(f":{short}")]


def config_of(graph: Evaluation, short: str, bucket: RecordedResource) -> RecordedResource:
    """The one `short` resource configuring `bucket` (they reference it by id)."""
    found = [r for r in of(graph, short) if r.inputs.get("bucket") == bucket.id]
    assert len(found) == 1, f"{len(found)} {short} for {bucket.name}"
    return found[0]
