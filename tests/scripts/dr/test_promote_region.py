"""`dr promote-region` against moto: a shard writer in us-east-1, its cross-Region read replica in us-west-2 created
the way RDS creates one (source by ARN, the DR region's key), the ReplicaLag metric and the standby's composite
alarm; then the preflight refusals, the fence, the promotion, the journal's resume and the new outputs."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from scripts import PROJECT_DIR
from scripts.__main__ import app
from scripts.dr.planning import OutputsError
from scripts.dr.promotion import PromotionError, PromotionSettings, promote_region
from scripts.dr.promotion_plan import Journal, StandbyTarget, promoted_outputs, targets_from_outputs

PRIMARY, DR = "us-east-1", "us-west-2"
SCHEMA = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())
FAST = PromotionSettings(poll_seconds=0.01, timeout_seconds=5)


def clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region)


def shard_outputs(index: int, writer: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": index,
        "name": writer["DBInstanceIdentifier"],
        "topology": "instance",
        "writerEndpoint": writer["Endpoint"]["Address"],
        "readerEndpoints": [],
        "proxyEndpoint": f"{writer['DBInstanceIdentifier']}-proxy.proxy-x.{PRIMARY}.rds.amazonaws.com",
        "port": 5433,
        "proxyPort": 5432,
        "databaseName": "cryb",
        "secretArn": f"arn:aws:secretsmanager:{PRIMARY}:123456789012:secret:rds!db-{index}",
        "iamAuthentication": True,
        "region": PRIMARY,
        "bucketRange": {"first": index * 512, "last": index * 512 + 511},
        "shardMapVersion": "0123456789abcdef",
    }


def promote_like_rds(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 keeps ReadReplicaSourceDBInstanceIdentifier on a promoted instance; RDS clears it (the promoted
    instance is standalone). Make the stand-in behave as RDS does."""
    from moto.rds.models import RDSBackend

    original = RDSBackend.promote_read_replica

    def promote(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = original(self, db_kwargs)
        database.source_db_instance_identifier = None
        return database

    monkeypatch.setattr(RDSBackend, "promote_read_replica", promote)


def seed_stack() -> dict[str, Any]:
    """Two shards and their standbys in moto (in-process or a server: whatever boto3 reaches); the outputs document
    as `pulumi stack output --json` has it."""
    rds, dr_rds = clients("rds", PRIMARY), clients("rds", DR)
    rds.create_db_parameter_group(
        DBParameterGroupName="cryb-test-pg-params", DBParameterGroupFamily="postgres17", Description="tuned"
    )
    dr_rds.create_db_parameter_group(
        DBParameterGroupName="cryb-test-pg-dr-params", DBParameterGroupFamily="postgres17", Description="tuned"
    )
    key = clients("kms", DR).create_key(Description="dr data")["KeyMetadata"]["Arn"]
    cloudwatch = clients("cloudwatch", DR)
    shards, standbys = [], []
    for index in range(2):
        writer = rds.create_db_instance(
            DBInstanceIdentifier=f"cryb-test-pg-{index:02d}",
            Engine="postgres",
            DBInstanceClass="db.r7g.large",
            AllocatedStorage=100,
            MasterUsername="cryb_admin",
            MasterUserPassword="not-a-real-password",
            DBName="cryb",
            Port=5433,
            BackupRetentionPeriod=7,
            StorageEncrypted=True,
            DBParameterGroupName="cryb-test-pg-params",
        )["DBInstance"]
        standby_id = f"cryb-test-pg-dr-{index:02d}"
        standby = dr_rds.create_db_instance_read_replica(
            DBInstanceIdentifier=standby_id,
            SourceDBInstanceIdentifier=writer["DBInstanceArn"],
            DBInstanceClass="db.r7g.large",
            KmsKeyId=key,
            DBParameterGroupName="cryb-test-pg-dr-params",
            SourceRegion=PRIMARY,
        )["DBInstance"]
        cloudwatch.put_metric_data(
            Namespace="AWS/RDS",
            MetricData=[
                {
                    "MetricName": "ReplicaLag",
                    "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": standby_id}],
                    "Timestamp": datetime.now(UTC),
                    "Value": 2.0,
                }
            ],
        )
        shards.append(shard_outputs(index, writer))
        standbys.append(
            {
                "id": index,
                "source": writer["DBInstanceIdentifier"],
                "kind": "rds-cross-region-replica",
                "standbyIdentifier": standby_id,
                "standbyEndpoint": standby["Endpoint"]["Address"]
                if "Endpoint" in standby
                else f"{standby_id}.c.{DR}.rds.amazonaws.com",
                "standbyArn": standby["DBInstanceArn"],
                "port": 5433,
                "region": DR,
                "lagAlarmName": f"{standby_id}-replica-lag",
                "unhealthyAlarmName": f"{standby_id}-unhealthy",
            }
        )
    document = {
        "environment": "dev",
        "region": PRIMARY,
        "postgres": {
            "engine": "rds-postgresql",
            "engineVersion": "17",
            "topology": "instance",
            "shardMap": {
                "version": "0123456789abcdef",
                "schemaVersion": 1,
                "hash": "sha256-first8-be-mod",
                "bucketCount": 1024,
                "ranges": [{"shard": 0, "first": 0, "last": 511}, {"shard": 1, "first": 512, "last": 1023}],
            },
            "shards": shards,
        },
        "dr": {"region": DR, "shards": standbys, "clusters": []},
    }
    return document


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Any:
    promote_like_rds(monkeypatch)
    with mock_aws():
        yield seed_stack()


def status(identifier: str) -> dict[str, Any]:
    return clients("rds", DR).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def test_moto_creates_the_standby_as_a_cross_region_replica(stack: dict[str, Any]) -> None:
    standby = status("cryb-test-pg-dr-00")
    assert standby["ReadReplicaSourceDBInstanceIdentifier"].startswith(f"arn:aws:rds:{PRIMARY}:")


def test_promotion_fences_promotes_verifies_and_journals(stack: dict[str, Any], tmp_path: Path) -> None:
    targets = targets_from_outputs(stack)
    checked: list[tuple[int, bool]] = []

    def check_writes(target: StandbyTarget) -> None:  # the SQL half runs against PostgreSQL in tests/real
        checked.append((target.shard, "ReadReplicaSourceDBInstanceIdentifier" in status(target.standby_identifier)))

    events: list[tuple[str, dict[str, Any]]] = []
    journal = Journal.load(tmp_path / "journal.json")
    done = promote_region(
        targets,
        clients=clients,
        check_writes=check_writes,
        journal=journal,
        settings=FAST,
        log=lambda step, **facts: events.append((step, facts)),
    )
    assert done
    for target in targets:
        promoted = status(target.standby_identifier)
        assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
        assert promoted["BackupRetentionPeriod"] == 35 and promoted["MultiAZ"] is True
    assert checked == [(0, False), (1, False)]  # each write checked only once its standby was promoted
    parameters = clients("rds", PRIMARY).describe_db_parameters(DBParameterGroupName="cryb-test-pg-params")
    fenced = {p["ParameterName"]: p.get("ParameterValue") for p in parameters["Parameters"]}
    assert fenced["default_transaction_read_only"] == "1"
    saved = json.loads((tmp_path / "journal.json").read_text())
    assert set(saved["done"]) == {"preflight", "fence", "promote", "multi-az", "verify-writes"}
    assert saved["done"]["preflight"]["0"]["lag_seconds"] == 2.0
    assert [step for step, _ in events].count("promote") == 4  # requested + available, per shard

    # A rerun resumes: nothing is promoted or checked twice.
    again = promote_region(
        targets, clients=clients, check_writes=check_writes, journal=Journal.load(tmp_path / "journal.json"),
        settings=FAST, log=lambda step, **facts: None,
    )  # fmt: skip
    assert again and len(checked) == 2


def test_a_lagging_or_silent_standby_is_refused_unless_forced(stack: dict[str, Any], tmp_path: Path) -> None:
    clients("cloudwatch", DR).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "cryb-test-pg-dr-01"}],
                "Timestamp": datetime.now(UTC),
                "Value": 900.0,
            }
        ],
    )
    targets = targets_from_outputs(stack)
    journal = Journal.load(tmp_path / "journal.json")
    with pytest.raises(PromotionError, match=r"cryb-test-pg-dr-01: lags 900 s \(> --max-lag-seconds 300\)"):
        promote_region(
            targets,
            clients=clients,
            check_writes=lambda t: None,
            journal=journal,
            settings=FAST,
            log=lambda *a, **k: None,
        )
    assert "ReadReplicaSourceDBInstanceIdentifier" in status("cryb-test-pg-dr-00")  # nothing promoted
    forced = PromotionSettings(poll_seconds=0.01, timeout_seconds=5, force=True)
    assert promote_region(
        targets,
        clients=clients,
        check_writes=lambda t: None,
        journal=journal,
        settings=forced,
        log=lambda *a, **k: None,
    )
    assert (journal.finished("preflight", 1) or {}).get("accepted") == ["lags 900 s (> --max-lag-seconds 300)"]


def test_dry_run_changes_nothing(stack: dict[str, Any], tmp_path: Path) -> None:
    targets = targets_from_outputs(stack)
    journal = Journal.load(tmp_path / "journal.json")
    settings = PromotionSettings(dry_run=True)
    assert not promote_region(
        targets,
        clients=clients,
        check_writes=lambda t: None,
        journal=journal,
        settings=settings,
        log=lambda *a, **k: None,
    )
    assert "ReadReplicaSourceDBInstanceIdentifier" in status("cryb-test-pg-dr-00")
    assert not (tmp_path / "journal.json").exists()


def test_an_unreachable_old_region_is_recorded_and_the_promotion_goes_on(stack: dict[str, Any], tmp_path: Path) -> None:
    from botocore.exceptions import EndpointConnectionError

    def region_lost(service: str, region: str) -> Any:
        if region == PRIMARY:
            raise EndpointConnectionError(endpoint_url=f"https://rds.{region}.amazonaws.com")
        return clients(service, region)

    journal = Journal.load(tmp_path / "journal.json")
    assert promote_region(
        targets_from_outputs(stack), clients=region_lost, check_writes=lambda t: None, journal=journal,
        settings=FAST, log=lambda *a, **k: None,
    )  # fmt: skip
    assert (journal.finished("fence", 0) or {}).get("result", "").startswith("unreachable (EndpointConnectionError)")


def test_the_new_outputs_point_at_the_standbys_and_keep_the_contract(stack: dict[str, Any]) -> None:
    targets = targets_from_outputs(stack)
    new = promoted_outputs(stack, targets, "2026-12-05T12:00:00+00:00")
    for shard, target in zip(new["postgres"]["shards"], targets, strict=True):
        assert (shard["writerEndpoint"], shard["region"]) == (target.standby_endpoint, DR)
        assert shard["promotedFrom"] == {"region": PRIMARY, "identifier": target.source_identifier}
        assert shard["shardMapVersion"] == new["postgres"]["shardMap"]["version"] != "0123456789abcdef"
    only_postgres = {**SCHEMA, "required": ["postgres"]}  # the document's other sections are not built here
    jsonschema.Draft202012Validator(only_postgres).validate({"environment": "dev", "postgres": new["postgres"]})
    del new["postgres"]["shards"][0]["promotedFrom"]  # not promoted: a shard port as proxyPort breaks the contract
    with pytest.raises(jsonschema.ValidationError, match="5432"):
        jsonschema.Draft202012Validator(only_postgres).validate({"environment": "dev", "postgres": new["postgres"]})


def test_outputs_without_a_standby_are_refused_naming_the_field() -> None:
    with pytest.raises(OutputsError, match=r"outputs.dr is missing or null"):
        targets_from_outputs({"dr": None, "postgres": {"shards": [{"id": 0}]}})
    result = CliRunner().invoke(app, ["dr", "promote-region", "--outputs", str(PROJECT_DIR / "Pulumi.yaml")])
    assert result.exit_code == 2
