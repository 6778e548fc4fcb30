"""The PostgreSQL shards on the graph the real program registers: both stacks, config variants, bad configs."""

import json
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, parse_stack_config
from components.postgres.tuning import parameters
from scripts.preview.mock_engine import Evaluation, RecordedResource, _computed, evaluate
from tests.helpers import PROD_SELFHOSTED, stack_document, write_config

INSTANCE = "aws:rds/instance:Instance"
CLUSTER = "aws:rds/cluster:Cluster"
PROXY = "aws:rds/proxy:Proxy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SUBSCRIPTION = "aws:rds/eventSubscription:EventSubscription"
REPLICATION = "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"
# Security Hub RDS.19-22: categories a subscription per source type must cover.
REQUIRED_EVENTS = {
    "db-instance": {"failure", "maintenance", "configuration change"},
    "db-cluster": {"failure", "maintenance"},
    "db-parameter-group": {"configuration change"},
    "db-security-group": {"configuration change", "failure"},
}


def postgres_variant(stack: str, directory: Path, **postgres: Any) -> Path:
    section = {**stack_document(stack)["config"].get("cryb-db:postgres", {}), **postgres}
    return write_config(directory, stack, {"cryb-db:postgres": section})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    """dev with two shards as Multi-AZ DB clusters."""
    path = postgres_variant(
        "dev", tmp_path_factory.mktemp("cluster"), topology="cluster", instanceClass="db.r6gd.large", shardCount=2
    )
    return evaluate("dev", path)


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    """dev with a non-default port, user, database, engine version and two replicas."""
    path = postgres_variant(
        "dev",
        tmp_path_factory.mktemp("custom"),
        port=6543,
        adminUser="svc_owner",
        databaseName="communities",
        engineVersion="16.8",
        readReplicas=2,
        extensions=["pg_stat_statements"],
    )
    return evaluate("dev", path)


def writers(ev: Evaluation) -> list[RecordedResource]:
    return [r for r in ev.of_type(INSTANCE) if "replicateSourceDb" not in r.inputs]


def replicas(ev: Evaluation) -> list[RecordedResource]:
    return [r for r in ev.of_type(INSTANCE) if "replicateSourceDb" in r.inputs]


def members(ev: Evaluation) -> list[RecordedResource]:
    """Every database resource: instances (writers and replicas) or Multi-AZ DB clusters."""
    return ev.of_type(INSTANCE) + ev.of_type(CLUSTER)


def shard_outputs(ev: Evaluation) -> list[dict[str, Any]]:
    return ev.outputs["postgres"]["shards"]


def identifier(resource: RecordedResource) -> str:
    return resource.inputs.get("identifier") or resource.inputs["clusterIdentifier"]


def expected(ev: Evaluation, key: str, default: Any) -> Any:
    return json.loads(ev.config.get("cryb-db:postgres", "{}")).get(key, default)


# -- shape --------------------------------------------------------------------------------------------------


def test_shard_count_and_replicas_per_stack(prod: Evaluation, dev: Evaluation) -> None:
    for ev, shards, per_shard in ((prod, 4, 1), (dev, 1, 0)):
        assert len(writers(ev)) == shards and len(shard_outputs(ev)) == shards
        assert [s["id"] for s in shard_outputs(ev)] == list(range(shards))
        for writer in writers(ev):
            own = [r for r in replicas(ev) if r.inputs["replicateSourceDb"].endswith(f":db:{identifier(writer)}")]
            assert len(own) == per_shard, writer.name
        assert not ev.of_type(CLUSTER)


def test_every_resource_belongs_to_the_postgres_component(prod: Evaluation) -> None:
    (component,) = [r for r in prod.resources if r.type == "cryb:postgres:Postgres"]
    for resource in members(prod) + prod.of_type(PROXY) + prod.of_type(SUBSCRIPTION):
        assert resource.parent == component.urn, resource.name
        assert resource.name.startswith(f"{component.name}-")


def test_writers_are_multi_az_and_replicas_spread_over_azs(each_stack: Evaluation) -> None:
    assert all(w.inputs["multiAz"] is True for w in writers(each_stack))
    zones = each_stack.outputs["network"]["availabilityZones"]
    placed = [r.inputs["availabilityZone"] for r in replicas(each_stack)]
    assert set(placed) <= set(zones)
    if len(placed) > 1:
        assert len(set(placed)) > 1


def test_cluster_topology_declares_multi_az_db_clusters(cluster: Evaluation) -> None:
    clusters = cluster.of_type(CLUSTER)
    assert len(clusters) == 2 and not cluster.of_type(INSTANCE)
    for c in clusters:
        assert c.inputs["engine"] == "postgres" and c.inputs["dbClusterInstanceClass"] == "db.r6gd.large"
        assert c.inputs["storageType"] == "gp3" and c.inputs["allocatedStorage"] == 20
        assert "maxAllocatedStorage" not in c.inputs  # Multi-AZ DB clusters cannot autoscale storage
        assert c.inputs["dbClusterParameterGroupName"] == cluster.named("cryb-dev-pg-params").inputs.get(
            "name", "cryb-dev-pg-params"
        )
    (group,) = cluster.of_type("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    assert group.inputs["family"] == "postgres17"
    assert not cluster.of_type(REPLICATION), "a Multi-AZ DB cluster has no cross-Region automated backups"
    for shard, c in zip(shard_outputs(cluster), clusters, strict=True):
        assert shard["topology"] == "cluster"
        assert shard["readerEndpoints"] == [f"{c.name}.cluster-ro-c0ffee0example.us-east-1.rds.amazonaws.com"]


# -- encryption and credentials -------------------------------------------------------------------------------


def test_storage_and_performance_insights_use_the_data_cmk(each_stack: Evaluation, cluster: Evaluation) -> None:
    for ev in (each_stack, cluster):
        data_key = ev.outputs["kmsKeyArns"]["data"]
        for m in members(ev):
            assert m.inputs["storageEncrypted"] is True and m.inputs["kmsKeyId"] == data_key, m.name
            assert m.inputs["performanceInsightsEnabled"] is True
            assert m.inputs["performanceInsightsKmsKeyId"] == data_key


def test_performance_insights_retention_per_stack(prod: Evaluation, dev: Evaluation) -> None:
    for ev, days in ((prod, 93), (dev, 7)):
        assert {m.inputs["performanceInsightsRetentionPeriod"] for m in members(ev)} == {days}


def test_master_password_is_managed_by_rds_with_the_secrets_cmk(each_stack: Evaluation, cluster: Evaluation) -> None:
    for ev in (each_stack, cluster):
        secrets_key = ev.outputs["kmsKeyArns"]["secrets"]
        primaries = writers(ev) + ev.of_type(CLUSTER)
        for m in primaries:
            assert m.inputs["manageMasterUserPassword"] is True
            assert m.inputs["masterUserSecretKmsKeyId"] == secrets_key
        for resource in ev.resources:
            assert not {"password", "masterPassword", "passwordWo", "masterPasswordWo"} & set(resource.inputs)
        for shard in shard_outputs(ev):
            assert shard["secretArn"].startswith("arn:aws:secretsmanager:")
            assert not any("password" in key.lower() for key in shard)


def test_default_port_and_admin_user_are_not_the_engine_defaults(each_stack: Evaluation) -> None:
    for m in members(each_stack):
        assert m.inputs["port"] == 5433
    for w in writers(each_stack):
        assert w.inputs["username"] == "cryb_admin" and w.inputs["dbName"] == "cryb"


def test_port_user_database_and_version_come_from_config(custom: Evaluation) -> None:
    assert len(replicas(custom)) == 2
    for m in custom.of_type(INSTANCE):
        assert m.inputs["port"] == 6543
    (writer,) = writers(custom)
    assert writer.inputs["engineVersion"] == "16.8"
    assert all("engineVersion" not in r.inputs for r in replicas(custom)), "replicas follow their source"
    assert writer.inputs["username"] == "svc_owner" and writer.inputs["dbName"] == "communities"
    (group,) = custom.of_type("aws:rds/parameterGroup:ParameterGroup")
    assert group.inputs["family"] == "postgres16"
    preload = {p["name"]: p["value"] for p in group.inputs["parameters"]}["shared_preload_libraries"]
    assert "pg_cron" not in preload
    (shard,) = shard_outputs(custom)
    assert (shard["port"], shard["databaseName"]) == (6543, "communities")
    assert len(shard["readerEndpoints"]) == 2
    sg = custom.outputs["network"]["securityGroupIds"]["postgres"]
    rules = [
        r
        for r in custom.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == sg
    ]
    assert rules and all(r.inputs["fromPort"] == r.inputs["toPort"] == 6543 for r in rules)


def test_iam_authentication_is_on_and_exported(each_stack: Evaluation) -> None:
    assert all(m.inputs["iamDatabaseAuthenticationEnabled"] is True for m in members(each_stack))
    assert all(s["iamAuthentication"] is True for s in shard_outputs(each_stack))


# -- observability ---------------------------------------------------------------------------------------------


def test_enhanced_monitoring_uses_its_own_role(prod: Evaluation, dev: Evaluation) -> None:
    for ev, interval in ((prod, 15), (dev, 60)):
        role = ev.named(f"cryb-{ev.stack}-pg-monitoring-role")
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
        assert trust["Condition"]["StringEquals"]["aws:SourceAccount"]
        attachment = ev.named(f"cryb-{ev.stack}-pg-monitoring-policy")
        assert attachment.inputs["policyArn"].endswith("service-role/AmazonRDSEnhancedMonitoringRole")
        role_arn = f"arn:aws:iam::123456789012:role/{role.name}"
        for m in members(ev):
            assert m.inputs["monitoringInterval"] == interval and m.inputs["monitoringRoleArn"] == role_arn


def test_logs_export_to_encrypted_log_groups_with_retention(
    prod: Evaluation, dev: Evaluation, cluster: Evaluation
) -> None:
    for ev, days, kind in ((prod, 365, "instance"), (dev, 30, "instance"), (cluster, 30, "cluster")):
        groups = {g.inputs["name"]: g for g in ev.of_type(LOG_GROUP)}
        for m in members(ev):
            assert m.inputs["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
            for log in ("postgresql", "upgrade"):
                group = groups[f"/aws/rds/{kind}/{identifier(m)}/{log}"]
                assert group.inputs["retentionInDays"] == days
                assert group.inputs["kmsKeyId"] == ev.outputs["kmsKeyArns"]["logs"]


# -- protection and backups ------------------------------------------------------------------------------------


def test_prod_is_protected_and_keeps_a_final_snapshot(prod: Evaluation) -> None:
    for m in members(prod):
        assert m.inputs["deletionProtection"] is True
        assert m.inputs["copyTagsToSnapshot"] is True and m.inputs["autoMinorVersionUpgrade"] is True
    for w in writers(prod):
        assert w.inputs["skipFinalSnapshot"] is False
        assert w.inputs["finalSnapshotIdentifier"] == f"{identifier(w)}-final"
        assert w.inputs["deleteAutomatedBackups"] is False


def test_dev_can_be_torn_down(dev: Evaluation) -> None:
    for w in writers(dev):
        assert w.inputs["deletionProtection"] is False and w.inputs["skipFinalSnapshot"] is True
        assert "finalSnapshotIdentifier" not in w.inputs


def test_backup_retention_per_stack(prod: Evaluation, dev: Evaluation, cluster: Evaluation) -> None:
    for ev, days in ((prod, 35), (dev, 7), (cluster, 7)):
        primaries = writers(ev) + ev.of_type(CLUSTER)
        assert primaries and {m.inputs["backupRetentionPeriod"] for m in primaries} == {days}


def _windows(ev: Evaluation) -> list[str]:
    """Every shard member's windows and the cache's, as the resources carry them."""
    found = []
    for m in members(ev):
        found += [m.inputs[k] for k in ("backupWindow", "preferredBackupWindow") if k in m.inputs]
        found += [m.inputs[k] for k in ("maintenanceWindow", "preferredMaintenanceWindow") if k in m.inputs]
    for group in ev.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        found += [group.inputs["snapshotWindow"], group.inputs["maintenanceWindow"]]
    return found


def test_backup_and_maintenance_windows_are_staggered(prod: Evaluation, cluster: Evaluation) -> None:
    from tests.components.postgres.test_schedule import overlapping

    backups = sorted(w.inputs["backupWindow"] for w in writers(prod))
    # placed from the default quiet hours (03:00-11:00): the cache snapshots at 03:00, the shards back up after it
    assert backups == ["04:00-05:00", "05:00-06:00", "06:00-07:00", "07:00-08:00"]
    assert all("backupWindow" not in r.inputs for r in replicas(prod))
    maintenance = {m.inputs["maintenanceWindow"] for m in prod.of_type(INSTANCE)}
    assert len(maintenance) == len(prod.of_type(INSTANCE)), "no two members patch in the same window"
    for ev in (prod, cluster):
        assert overlapping(_windows(ev)) == []


def test_backups_replicate_to_another_region_in_prod(prod: Evaluation, dev: Evaluation) -> None:
    assert not dev.of_type(REPLICATION)
    copies = {r.inputs["sourceDbInstanceArn"]: r for r in prod.of_type(REPLICATION)}
    assert set(copies) == {f"arn:aws:rds:us-east-1:123456789012:db:{identifier(w)}" for w in writers(prod)}
    dr_key = prod.named("cryb-prod-dr-keys-data")
    provider = prod.named("cryb-prod-us-west-2")
    assert provider.inputs["region"] == "us-west-2" and (dr_key.provider or "").startswith(provider.urn)
    for copy in copies.values():
        assert copy.inputs["region"] == "us-west-2" and copy.inputs["retentionPeriod"] == 35
        assert copy.inputs["kmsKeyId"] == f"arn:aws:kms:us-west-2:123456789012:key/{dr_key.name}"  # its region's


def test_a_recent_ca_is_used(each_stack: Evaluation, cluster: Evaluation) -> None:
    allowed = {"rds-ca-rsa2048-g1", "rds-ca-rsa4096-g1", "rds-ca-ecc384-g1"}
    for m in members(each_stack):
        assert m.inputs["caCertIdentifier"] in allowed
    for c in cluster.of_type(CLUSTER):
        assert c.inputs["caCertificateIdentifier"] in allowed


# -- parameters --------------------------------------------------------------------------------------------


def test_parameter_group_is_the_tuning_function_for_the_class(prod: Evaluation, dev: Evaluation) -> None:
    for ev, cls in ((prod, "db.r7g.2xlarge"), (dev, "db.t4g.medium")):
        (group,) = ev.of_type("aws:rds/parameterGroup:ParameterGroup")
        assert group.inputs["family"] == "postgres17"
        recorded = {(p["name"], p["value"], p["applyMethod"]) for p in group.inputs["parameters"]}
        assert recorded == {(p.name, p.value, p.apply_method) for p in parameters(cls, cron_database="cryb")}
        group_name = group.inputs.get("name", group.name)
        assert all(m.inputs["parameterGroupName"] == group_name for m in ev.of_type(INSTANCE))


# -- events and proxies ----------------------------------------------------------------------------------------


def test_rds_events_reach_the_encrypted_alert_topics(each_stack: Evaluation, cluster: Evaluation) -> None:
    for ev in (each_stack, cluster):
        topics = ev.outputs["alertTopicArns"]
        for topic in ev.of_type("aws:sns/topic:Topic"):
            assert topic.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
        for policy in ev.of_type("aws:sns/topicPolicy:TopicPolicy"):
            statements = json.loads(policy.inputs["policy"])["Statement"]
            publishers = [s for s in statements if s["Principal"].get("Service")]
            assert all(s["Condition"]["StringEquals"]["aws:SourceAccount"] for s in publishers)
            assert any("events.rds.amazonaws.com" in s["Principal"]["Service"] for s in publishers)
        subscriptions = ev.of_type(SUBSCRIPTION)
        assert {s.inputs["snsTopic"] for s in subscriptions} == set(topics.values())
        source_types = {s.inputs["sourceType"] for s in subscriptions}
        for source_type, required in REQUIRED_EVENTS.items():
            if source_type in ("db-instance", "db-cluster") and source_type not in source_types:
                continue
            covered = set().union(
                *(s.inputs["eventCategories"] for s in subscriptions if s.inputs["sourceType"] == source_type)
            )
            assert required <= covered, (source_type, required - covered)
        db_type = "db-instance" if ev.of_type(INSTANCE) else "db-cluster"
        for s in subscriptions:
            if s.inputs["sourceType"] == db_type:
                assert set(s.inputs["sourceIds"]) == {identifier(m) for m in members(ev)}
        critical = [s for s in subscriptions if s.inputs["snsTopic"] == topics["critical"]]
        assert critical and all("failure" in s.inputs["eventCategories"] for s in critical)


def test_each_writer_has_a_tls_and_iam_proxy_with_its_own_secret(each_stack: Evaluation, cluster: Evaluation) -> None:
    for ev in (each_stack, cluster):
        proxies = {p.inputs["name"]: p for p in ev.of_type(PROXY)}
        pooler = ev.outputs["network"]["securityGroupIds"]["pooler"]
        targets = ev.of_type("aws:rds/proxyTarget:ProxyTarget")
        assert len(proxies) == len(shard_outputs(ev)) == len(targets)
        for shard in shard_outputs(ev):
            proxy = proxies[f"{shard['name']}-proxy"]
            assert proxy.inputs["requireTls"] is True and proxy.inputs["engineFamily"] == "POSTGRESQL"
            assert proxy.inputs["debugLogging"] is False
            assert proxy.inputs["vpcSecurityGroupIds"] == [pooler]
            (auth,) = proxy.inputs["auths"]
            assert (auth["iamAuth"], auth["authScheme"]) == ("REQUIRED", "SECRETS")
            assert auth["secretArn"] == shard["secretArn"]
            assert shard["proxyEndpoint"].startswith(f"{shard['name']}-proxy.proxy-")
            (target,) = [t for t in targets if t.inputs["dbProxyName"] == proxy.inputs["name"]]
            assert target.inputs.get("dbInstanceIdentifier", target.inputs.get("dbClusterIdentifier")) == shard["name"]
            assert "dbInstanceIdentifier" not in target.inputs or not target.inputs["dbInstanceIdentifier"].count(
                "replica"
            ), "the proxy fronts the writer only"
            policy = json.loads(ev.named(f"{shard['name']}-proxy-secret").inputs["policy"])
            (read,) = [s for s in policy["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
            assert read["Resource"] == shard["secretArn"], "a proxy reads only its own shard's secret"


def test_proxies_run_where_they_can_reach_secrets_manager(prod: Evaluation, dev: Evaluation) -> None:
    for ev, tier in ((prod, "dataSubnetIds"), (dev, "appSubnetIds")):
        for proxy in ev.of_type(PROXY):
            assert proxy.inputs["vpcSubnetIds"] == ev.outputs["network"][tier]


def test_storage_follows_config(prod: Evaluation, dev: Evaluation) -> None:
    for w in writers(prod):
        assert (w.inputs["storageType"], w.inputs["iops"], w.inputs["allocatedStorage"]) == ("io2", 12000, 400)
        assert w.inputs["maxAllocatedStorage"] == 4000
    for w in writers(dev):
        assert (w.inputs["storageType"], w.inputs["allocatedStorage"], w.inputs["maxAllocatedStorage"]) == (
            "gp3",
            20,
            100,
        )
        assert "iops" not in w.inputs


# -- outputs ------------------------------------------------------------------------------------------------


def test_outputs_route_every_bucket_to_exactly_one_shard(each_stack: Evaluation) -> None:
    pg = each_stack.outputs["postgres"]
    buckets = [b for s in pg["shards"] for b in range(s["bucketRange"]["first"], s["bucketRange"]["last"] + 1)]
    assert sorted(buckets) == list(range(pg["shardMap"]["bucketCount"]))
    by_shard = {r["shard"]: (r["first"], r["last"]) for r in pg["shardMap"]["ranges"]}
    for shard in pg["shards"]:
        assert by_shard[shard["id"]] == (shard["bucketRange"]["first"], shard["bucketRange"]["last"])
        assert shard["shardMapVersion"] == pg["shardMap"]["version"]
        assert shard["region"] == each_stack.outputs["region"]
        assert shard["proxyPort"] == 5432
    assert "postgres" not in each_stack.secret_outputs


def test_reader_endpoints_are_the_replicas(prod: Evaluation) -> None:
    for shard in shard_outputs(prod):
        assert shard["readerEndpoints"] == [f"{shard['name']}-replica-1.c0ffee0example.us-east-1.rds.amazonaws.com"]
        assert shard["writerEndpoint"] == f"{shard['name']}.c0ffee0example.us-east-1.rds.amazonaws.com"


def test_metric_helpers_describe_each_shard() -> None:
    from components.postgres.component import PostgresShard
    from components.postgres.schedule import plan_windows
    from components.postgres.tuning import instance_class

    cls = instance_class("db.r7g.xlarge")
    windows = plan_windows(1, 2)[0]
    shard = PostgresShard(0, "pg-00", "instance", cls, 400, windows, None, None, None, None, ["pg-00-replica-1"])  # type: ignore[arg-type]
    assert shard.metric_cpu_utilization().dimensions == {"DBInstanceIdentifier": "pg-00"}
    assert [m.dimensions for m in shard.metric_replica_lag()] == [{"DBInstanceIdentifier": "pg-00-replica-1"}]
    clustered = PostgresShard(0, "pg-00", "cluster", cls, 400, windows, None, None, None, None)  # type: ignore[arg-type]
    assert clustered.metric_db_load().dimensions == {"DBClusterIdentifier": "pg-00"}


# -- config ---------------------------------------------------------------------------------------------------


def config_problems(environment: str = "dev", **postgres: Any) -> list[str]:
    raw = {"cryb-db:environment": environment, "cryb-db:postgres": json.dumps(postgres)}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


@pytest.mark.parametrize(
    ("postgres", "expected"),
    [
        (
            {"instanceClass": "db.r7g.xlarg"},
            "cryb-db:postgres.instanceClass = 'db.r7g.xlarg': not in the tuning table (did you mean 'db.r7g.xlarge'?);"
            " allowed: db.c6gd.12xlarge,",
        ),
        (
            {"extensions": ["pg_partman", "timescaledb"]},
            "cryb-db:postgres.extensions = ['pg_partman', 'timescaledb']: TimescaleDB is not available on Amazon RDS",
        ),
        ({"extensions": ["plv8"]}, "cryb-db:postgres.extensions = ['plv8']: plv8 not available here; allowed: "),
        (
            {
                "topology": "cluster",
                "instanceClass": "db.r6gd.large",
                "readReplicas": 0,
                "backupReplicationRegion": "us-west-2",
            },
            "cryb-db:postgres.backupReplicationRegion = 'us-west-2': must be unset with topology 'cluster': a Multi-AZ "
            "DB cluster has no cross-Region automated backups",
        ),
        (
            {"topology": "cluster", "readReplicas": 0},
            "cryb-db:postgres.instanceClass = 'db.r7g.xlarge': topology 'cluster' needs a local-NVMe class; allowed: ",
        ),
        (
            {"topology": "cluster", "instanceClass": "db.r6gd.large"},
            "cryb-db:postgres.readReplicas = 1: must be 0 with topology 'cluster'",
        ),
        ({"adminUser": "postgres"}, "cryb-db:postgres.adminUser = 'postgres': must not be a well-known name"),
        ({"adminUser": "Admin-User"}, "cryb-db:postgres.adminUser = 'Admin-User': must be a lowercase identifier"),
        ({"databaseName": "template1"}, "cryb-db:postgres.databaseName = 'template1': must be a lowercase identifier"),
        ({"engineVersion": "15"}, "cryb-db:postgres.engineVersion = '15': '15' is not a supported engine version"),
        ({"storageType": "io2"}, "cryb-db:postgres.iops = None: storageType 'io2' needs iops between 1000 and 256000"),
        ({"storageType": "io1"}, "cryb-db:postgres.storageType = 'io1': must be one of 'gp3' or 'io2'"),
        ({"iops": 12000}, "cryb-db:postgres.iops = 12000: gp3 takes iops only from 400 GiB"),
        ({"backupRetentionDays": 36}, "cryb-db:postgres.backupRetentionDays = 36: must be <= 35"),
        (
            {"performanceInsightsRetentionDays": 30},
            "cryb-db:postgres.performanceInsightsRetentionDays = 30: must be 7,",
        ),
        ({"shardCount": 0}, "cryb-db:postgres.shardCount = 0: must be >= 1"),
        ({"bucketCount": 1000}, "cryb-db:postgres.bucketCount = 1000: must be a power of two"),
        ({"maxAllocatedStorageGb": 105}, "cryb-db:postgres.maxAllocatedStorageGb = 105: must be at least 10% above"),
        ({"logRetentionDays": 100}, "cryb-db:postgres.logRetentionDays = 100: must be one of the CloudWatch Logs"),
        ({"caCertIdentifier": "rds-ca-2019"}, "cryb-db:postgres.caCertIdentifier = 'rds-ca-2019': must be one of"),
        (
            {"backupWindowStart": "05:00", "maintenanceWindowStart": "sun:06:30"},
            "cryb-db:postgres.maintenanceWindowStart = 'sun:06:30': the maintenance of shard 0 (sun:06:30-sun:07:30) "
            "overlaps the backup of shard 1 (06:00-07:00 daily) set by cryb-db:postgres.backupWindowStart",
        ),
        ({"backupWindowStart": "5:00"}, "cryb-db:postgres.backupWindowStart = '5:00': '5:00' is not a time hh:mm"),
        (
            {"maintenanceWindowStart": "sunday:10:00"},
            "cryb-db:postgres.maintenanceWindowStart = 'sunday:10:00': 'sunday:10:00' is not a weekly time",
        ),
        (
            {"backupReplicationRegion": "us-west"},
            "cryb-db:postgres.backupReplicationRegion = 'us-west': must be auto, null or an AWS",
        ),
        (
            {"instanceClas": "db.r7g.xlarge"},
            "cryb-db:postgres.instanceClas: unknown key (did you mean 'instanceClass'?)",
        ),
    ],
)
def test_bad_postgres_config_names_key_value_and_allowed(postgres: dict[str, Any], expected: str) -> None:
    found = config_problems(**postgres)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("postgres", "expected"),
    [
        ({"backupRetentionDays": 7}, "cryb-db:postgres.backupRetentionDays = 7: must be 35 in prod"),
        ({"deletionProtection": False}, "cryb-db:postgres.deletionProtection = False: must be true in prod"),
        ({"finalSnapshot": False}, "cryb-db:postgres.finalSnapshot = False: must be true in prod"),
        ({"multiAz": False}, "cryb-db:postgres.multiAz = False: must be true in prod"),
        ({"iamAuthentication": False}, "cryb-db:postgres.iamAuthentication = False: must be true in prod"),
        ({"logRetentionDays": 30}, "cryb-db:postgres.logRetentionDays = 30: must be at least 365 in prod"),
        (
            {"backupReplicationRegion": None},
            "cryb-db:postgres.backupReplicationRegion = None: must be auto or a region",
        ),
    ],
)
def test_prod_rules_for_postgres(postgres: dict[str, Any], expected: str) -> None:
    found = config_problems("prod", **postgres)
    assert any(p.startswith(expected) for p in found), found


def test_auto_backup_region_is_the_pair_for_instances_and_none_for_clusters() -> None:
    def postgres(environment: str = "prod", **section: Any) -> Any:
        raw = {
            "cryb-db:environment": environment,
            "cryb-db:postgres": json.dumps(section),
            "cryb-db:selfhosted": PROD_SELFHOSTED,
        }
        return parse_stack_config(raw).postgres

    assert postgres().backup_region("us-east-1") == "us-west-2"
    assert postgres().backup_region("us-west-2") == "us-east-1"
    assert postgres(backupReplicationRegion="eu-west-1").backup_region("us-east-1") == "eu-west-1"
    clustered = postgres("staging", topology="cluster", instanceClass="db.r6gd.xlarge", readReplicas=0)
    assert clustered.backup_region("us-east-1") is None  # a cluster cannot replicate backups
    # Nor have the warm standby prod requires (components/config/dr.py): prod refuses the cluster topology.
    refused = r"cryb-db:dr.standby = unset \(on in prod\) with cryb-db:postgres.topology = 'cluster'"
    with pytest.raises(ConfigError, match=refused):
        postgres(topology="cluster", instanceClass="db.r6gd.xlarge", readReplicas=0)
    with pytest.raises(ValueError, match=r"backupReplicationRegion = 'auto': no paired region known for xx-east-9"):
        postgres().backup_region("xx-east-9")


def test_backups_cannot_replicate_into_the_stacks_own_region(tmp_path: Path) -> None:
    path = postgres_variant("prod", tmp_path, backupReplicationRegion="us-east-1")
    # a config error (preview exit 2), raised before any resource is registered
    with pytest.raises(ConfigError, match=r"backupReplicationRegion = 'us-east-1': must differ from the stack's"):
        evaluate("prod", path)


def test_each_shards_managed_master_secret_rotates_every_30_days(each_stack: Evaluation) -> None:
    """RDS rotates its managed secret itself (no Lambda) every 7 days unless the secret's rules say otherwise; the
    component sets the 30 days the README promises, one rotation per shard, on the secret the shard reports."""
    rotations = {r.name: r.inputs for r in each_stack.of_type("aws:secretsmanager/secretRotation:SecretRotation")}
    for shard in each_stack.outputs["postgres"]["shards"]:
        rotation = rotations[f"{shard['name']}-master-secret-rotation"]
        assert rotation["secretId"] == shard["secretArn"]
        assert rotation["rotationRules"] == {"automaticallyAfterDays": 30}
        assert "rotationLambdaArn" not in rotation and rotation["rotateImmediately"] is False


def test_each_shard_names_its_proxys_resource_id(each_stack: Evaluation) -> None:
    """`rds-db:connect` policies name `dbuser:<prx-id>/<user>` (docs/connecting.md): the id is the proxy ARN's tail."""
    proxies = {p.name: p for p in each_stack.of_type("aws:rds/proxy:Proxy")}
    for shard in each_stack.outputs["postgres"]["shards"]:
        proxy = proxies[f"{shard['name']}-proxy"]
        arn = _computed(proxy.type, proxy.name, shard["region"])["arn"]  # what the mock engine answers, as AWS would
        assert arn.endswith(f":db-proxy:{shard['proxyResourceId']}") and shard["proxyResourceId"].startswith("prx-")


def test_every_shard_has_a_rotated_secret_per_least_privilege_role(each_stack: Evaluation) -> None:
    """Four role secrets per shard in the single-user rotation shape (host = the shard's writer), KMS-encrypted,
    rotated every 30 days by the one single-user rotation function of the stack, exported per shard."""
    (function,) = each_stack.of_type("aws:serverlessrepository/cloudFormationStack:CloudFormationStack")
    assert function.inputs["applicationId"].endswith("/SecretsManagerRDSPostgreSQLRotationSingleUser")
    # pinned to a released version (AWS CDK's pin, aws-cdk-lib secret-rotation.ts): unset, SAR deploys the latest
    assert function.inputs["semanticVersion"] == "1.1.671"
    assert function.inputs["parameters"]["kmsKeyArn"].endswith("secrets")
    rotation_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}"
    for shard in each_stack.outputs["postgres"]["shards"]:
        arns = shard["roleSecretArns"]
        assert sorted(arns) == ["app", "migrator", "monitor", "readonly"]
        for role in arns:
            secret = each_stack.named(f"{shard['name']}-{role}")
            assert secret.inputs["tags"]["secret-purpose"] == role and secret.inputs["kmsKeyId"].endswith("secrets")
            version = each_stack.named(f"{shard['name']}-{role}-value")
            assert "secretString" in version.secret_paths
            value = json.loads(version.inputs["secretString"])
            assert (value["engine"], value["username"], value["host"]) == ("postgres", role, shard["writerEndpoint"])
            assert (value["port"], value["dbname"]) == (shard["port"], shard["databaseName"])
            rotation = each_stack.named(f"{shard['name']}-{role}-rotation")
            assert rotation.inputs["rotationLambdaArn"] == rotation_arn
            assert rotation.inputs["rotationRules"]["automaticallyAfterDays"] == 30
            assert rotation.inputs["rotateImmediately"] is False
