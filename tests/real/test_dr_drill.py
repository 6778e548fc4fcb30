"""The DR drill (scripts/dr/): its AWS half against moto, its database half against real PostgreSQL 15.

moto stands in for RDS (the restore request, the scratch instance, its deletion). The database behind the
shard's writer endpoint is a local PostgreSQL primary that archives its WAL; the database behind the scratch
instance is what RDS would restore: a base backup taken before the drill, recovered from the WAL archive to the
drill's target time (PostgreSQL's own point-in-time recovery, the mechanism RDS uses).
"""

import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from rich.console import Console
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from scripts.dr.connector import Endpoint
from scripts.dr.drill import run_drill
from scripts.dr.planning import DrillSettings, parse_target, shards_from_outputs
from scripts.dr.rds_restore import RUN_TAG, delete_scratch
from scripts.servers.process import chown_tree, make_workdir, remove_workdir
from tests.scripts.dr.stack_outputs import EXPORTED, NETWORK
from tests.servers.postgres import PostgresFactory, PostgresServer

REGION = "us-east-1"
FAST = DrillSettings(
    settle_seconds=1.0,
    tick_interval_seconds=0.02,
    poll_seconds=0.2,
    restorable_timeout_seconds=30,
    available_timeout_seconds=60,
    delete_timeout_seconds=30,
)


# --- moto: the RDS side --------------------------------------------------------------------------------------------


def _moto_shard(endpoint: str, name: str = "shard-0") -> tuple[Any, dict[str, Any]]:
    """A VPC, data subnets, a postgres security group, a subnet group and one PostgreSQL instance in moto."""
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION)
    rds = boto3.client("rds", endpoint_url=endpoint, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName="postgres", Description="postgres", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName="cryb-test-db", DBSubnetGroupDescription="data", SubnetIds=subnets)
    rds.create_db_instance(
        DBInstanceIdentifier=f"cryb-test-{name}",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="cryb_admin",
        ManageMasterUserPassword=True,
        DBName="cryb",
        Port=5433,
        DBSubnetGroupName="cryb-test-db",
        VpcSecurityGroupIds=[group],
        BackupRetentionPeriod=7,
        Tags=[{"Key": "backup-plan", "Value": "cryb-db-rds"}],
    )
    instance = rds.describe_db_instances(DBInstanceIdentifier=f"cryb-test-{name}")["DBInstances"][0]
    shard = {
        "id": name,
        "instanceIdentifier": instance["DBInstanceIdentifier"],
        "writerEndpoint": instance["Endpoint"]["Address"],
        "port": 5433,
        "secretArn": instance["MasterUserSecret"]["SecretArn"],
        "database": "cryb",
        "dbSubnetGroupName": "cryb-test-db",
        "securityGroupIds": [group],
    }
    return rds, {"region": REGION, "postgres": {"shards": [shard]}}


def _gone(rds: Any, identifier: str) -> bool:
    return not [i for i in rds.describe_db_instances()["DBInstances"] if i["DBInstanceIdentifier"] == identifier]


@pytest.mark.servers
def test_delete_refuses_an_instance_this_run_did_not_create(moto_server: str) -> None:
    rds, _ = _moto_shard(moto_server)
    settings = DrillSettings(poll_seconds=0.1, delete_timeout_seconds=5)
    from rich.progress import Progress

    with Progress(console=Console(file=io.StringIO())) as progress:
        with pytest.raises(RuntimeError, match="refusing to delete cryb-test-shard-0"):
            delete_scratch(rds, "cryb-test-shard-0", "some-run", settings, progress)
        assert delete_scratch(rds, "drill-never-created", "some-run", settings, progress) == "not created"
    assert not _gone(rds, "cryb-test-shard-0")


@pytest.mark.servers
def test_a_multi_az_cluster_shard_fails_clearly_and_creates_nothing(moto_server: str, tmp_path: Path) -> None:
    rds, _ = _moto_shard(moto_server)
    outputs = {"network": NETWORK, "postgres": {"shards": [{**EXPORTED, "topology": "cluster"}]}}

    def never(endpoint: Endpoint) -> psycopg.Connection[Any]:
        raise AssertionError("no database may be touched")

    report, _, _ = run_drill(
        shards_from_outputs(outputs), rds=rds, connect=never, settings=FAST, report_dir=tmp_path,
        console=Console(file=io.StringIO()),
    )  # fmt: skip
    (result,) = report.shards
    assert result.status == "failed" and "RestoreDBClusterToPointInTime" in (result.error or "")
    assert result.cleanup == "not created"


# --- local PostgreSQL: the database side ---------------------------------------------------------------------------


@dataclass
class LocalDatabases:
    """A connector mapping RDS endpoints to local servers: the shard's writer endpoint to the local primary, a
    scratch instance to whatever `restore` makes of it. It also records what moto shows of the scratch instance
    while it exists."""

    rds: Any
    writer_host: str
    primary: PostgresServer
    restore: Callable[[Endpoint], PostgresServer]
    scratch_seen: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, endpoint: Endpoint) -> psycopg.Connection[Any]:
        if endpoint.role == "primary":
            assert endpoint.host == self.writer_host
            server = self.primary
        else:
            described = self.rds.describe_db_instances(DBInstanceIdentifier=endpoint.instance_identifier)
            self.scratch_seen.append(described["DBInstances"][0])
            assert endpoint.host == described["DBInstances"][0]["Endpoint"]["Address"]
            server = self.restore(endpoint)
        return psycopg.connect(server.info.dsn_for(dbname=endpoint.database), connect_timeout=5)


class PointInTimeCopy:
    """What RDS does on RestoreDBInstanceToPointInTime, done by PostgreSQL itself: a base backup taken before the
    drill is recovered from the WAL archive up to `endpoint.restored_to`, then promoted."""

    def __init__(self, factory: PostgresFactory, primary: PostgresServer, archive: Path):
        self.factory, self.primary, self.archive = factory, primary, archive
        self.server = factory.create(name="pitr", replica_of=primary, start=False)  # the base backup, now
        self.targets: list[datetime] = []

    def __call__(self, endpoint: Endpoint) -> PostgresServer:
        assert endpoint.restored_to is not None
        self.targets.append(endpoint.restored_to)
        self._archive_everything_so_far()
        data = self.server.info.data_dir
        (data / "standby.signal").unlink(missing_ok=True)
        (data / "recovery.signal").touch()
        auto = data / "postgresql.auto.conf"  # pg_basebackup -R wrote a primary_conninfo: no streaming here
        auto.write_text("".join(line for line in auto.read_text().splitlines(True) if "primary_conninfo" not in line))
        chown_tree(data, self.factory.os_user)
        self.server.settings.update(
            restore_command=f"cp {self.archive}/%f %p",
            recovery_target_time=endpoint.restored_to.isoformat(),
            recovery_target_action="promote",
        )
        self.server.start()
        Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.1), retry=retry_if_result(bool))(
            self.server.is_in_recovery
        )
        return self.server

    def _archive_everything_so_far(self) -> None:
        segment = self.primary.scalar("select pg_walfile_name(pg_switch_wal())")
        Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.1), retry=retry_if_result(lambda done: not done))(
            lambda: (self.primary.scalar("select last_archived_wal from pg_stat_archiver") or "") >= segment
        )


@pytest.fixture()
def wal_archive(postgres_factory: PostgresFactory) -> Iterator[Path]:
    archive = make_workdir("cryb-wal-archive-", postgres_factory.os_user)
    try:
        yield archive
    finally:
        remove_workdir(archive)


def _primary(factory: PostgresFactory, archive: Path | None = None) -> PostgresServer:
    settings: dict[str, str | int | bool] = {}
    if archive is not None:
        settings = {"archive_mode": True, "archive_command": f"test ! -f {archive}/%f && cp %p {archive}/%f"}
    primary = factory.create(name="primary", settings=settings)
    primary.execute("create database cryb")
    return primary


def _drill(rds: Any, outputs: dict[str, Any], connect: LocalDatabases, report_dir: Path) -> tuple[Any, Path, Path, str]:
    console_text = io.StringIO()
    report, markdown, document = run_drill(
        shards_from_outputs(outputs),
        rds=rds,
        connect=connect,
        settings=FAST,
        report_dir=report_dir,
        console=Console(file=console_text, width=200),
        region=REGION,
    )
    return report, markdown, document, console_text.getvalue()


@pytest.mark.servers
def test_drill_restores_to_the_target_verifies_measures_and_deletes_the_scratch_instance(
    moto_server: str, postgres_factory: PostgresFactory, wal_archive: Path, tmp_path: Path
) -> None:
    rds, outputs = _moto_shard(moto_server)
    requests: list[dict[str, Any]] = []
    rds.meta.events.register(
        "provide-client-params.rds.RestoreDBInstanceToPointInTime", lambda params, **_: requests.append(dict(params))
    )
    primary = _primary(postgres_factory, wal_archive)
    copy = PointInTimeCopy(postgres_factory, primary, wal_archive)
    shard = outputs["postgres"]["shards"][0]
    connect = LocalDatabases(rds, shard["writerEndpoint"], primary, copy)

    report, markdown, document, console = _drill(rds, outputs, connect, tmp_path)

    (result,) = report.shards
    assert result.status == "passed", result.error
    assert result.cleanup == "deleted" and _gone(rds, result.scratch_instance)

    # The restore was requested for the shard, into its data subnets and groups, privately, tagged for clean-up.
    (request,) = requests
    assert request["SourceDBInstanceIdentifier"] == shard["instanceIdentifier"]
    assert request["TargetDBInstanceIdentifier"] == result.scratch_instance != shard["instanceIdentifier"]
    assert request["DBSubnetGroupName"] == "cryb-test-db"
    assert request["VpcSecurityGroupIds"] == shard["securityGroupIds"]
    assert (request["PubliclyAccessible"], request["DeletionProtection"], request["MultiAZ"]) == (False, False, False)
    assert request["RestoreTime"] == copy.targets[0] == parse_target(result.target_time)
    (seen,) = connect.scratch_seen
    assert seen["DBSubnetGroup"]["DBSubnetGroupName"] == "cryb-test-db"
    assert [g["VpcSecurityGroupId"] for g in seen["VpcSecurityGroups"]] == shard["securityGroupIds"]
    assert {t["Key"]: t["Value"] for t in seen["TagList"]}[RUN_TAG] == report.run_id
    assert "backup-plan" not in {t["Key"] for t in seen["TagList"]}  # AWS Backup must not pick up the scratch copy

    # The database half: marker and canary checksum restored; the target falls between committed rows.
    verification = result.verification
    assert verification["marker_expected"] == "present" and verification["marker_found"]
    assert verification["canary_restored"] == verification["canary_primary"]
    assert verification["canary_primary"][0] == 100
    assert verification["ticks_expected_present"] >= 5 and verification["ticks_expected_absent"] >= 5
    assert verification["ticks_missing"] == [] and verification["ticks_unexpected"] == []

    # Independently of the drill's own check: every row committed before the target is back, none after it.
    target = copy.targets[0]
    written = primary.execute(
        "select seq, started_at from dr_drill.ticks where run_id = %s order by seq", (report.run_id,), dbname="cryb"
    )
    ticks_query = "select seq from dr_drill.ticks where run_id = %s"
    restored = {r[0] for r in copy.server.execute(ticks_query, (report.run_id,), dbname="cryb")}
    committed_before = {seq for (seq, _), (_, next_start) in itertools.pairwise(written) if next_start <= target}
    started_after = {seq for seq, started in written if started > target}
    assert committed_before and started_after
    assert committed_before <= restored and not restored & started_after

    # Figures: recorded, printed and written as Markdown + JSON.
    assert result.rto_seconds is not None and result.rto_seconds > 0
    assert result.rpo_seconds is not None and result.rpo_seconds >= 0
    assert result.rto_seconds >= result.restore_seconds + result.verify_seconds - 0.01
    saved = json.loads(document.read_text())
    assert saved["summary"]["passed"] == 1 and saved["shards"][0]["rtoSeconds"] == result.rto_seconds
    assert f"| shard-0 | passed | {result.rto_seconds:.1f} | {result.rpo_seconds:.1f} |" in markdown.read_text()
    assert "RTO s" in console and "passed" in console
    print(f"\nDR drill (moto + local PITR): RTO {result.rto_seconds:.2f} s, RPO {result.rpo_seconds:.2f} s")


@pytest.mark.servers
def test_scratch_instance_is_deleted_when_verification_fails(
    moto_server: str, postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    rds, outputs = _moto_shard(moto_server)
    primary = _primary(postgres_factory)
    shard = outputs["postgres"]["shards"][0]
    # A "restore" that is really the live primary: it holds rows written after the target.
    connect = LocalDatabases(rds, shard["writerEndpoint"], primary, lambda endpoint: primary)

    report, markdown, document, _ = _drill(rds, outputs, connect, tmp_path)

    (result,) = report.shards
    assert result.status == "failed"
    assert "started after the target are present" in (result.error or "")
    assert result.verification is not None and result.verification["ticks_unexpected"]
    assert len(connect.scratch_seen) == 1  # the scratch instance existed...
    assert result.cleanup == "deleted" and _gone(rds, result.scratch_instance)  # ...and is gone
    assert json.loads(document.read_text())["summary"]["failed"] == 1
    assert "FAILED" in markdown.read_text().splitlines()[0]


@pytest.mark.servers
def test_scratch_instance_is_deleted_when_a_step_raises(
    moto_server: str, postgres_factory: PostgresFactory, tmp_path: Path
) -> None:
    rds, outputs = _moto_shard(moto_server)
    primary = _primary(postgres_factory)
    shard = outputs["postgres"]["shards"][0]

    def unreachable(endpoint: Endpoint) -> PostgresServer:
        raise ConnectionError(f"{endpoint.host}: no route to host")

    connect = LocalDatabases(rds, shard["writerEndpoint"], primary, unreachable)
    report, _, document, _ = _drill(rds, outputs, connect, tmp_path)

    (result,) = report.shards
    assert result.status == "failed" and result.error is not None and "no route to host" in result.error
    assert result.rto_seconds is None and result.rpo_seconds is not None  # RPO was measured before the failure
    assert result.cleanup == "deleted" and _gone(rds, result.scratch_instance)
    assert json.loads(document.read_text())["shards"][0]["cleanup"] == "deleted"
