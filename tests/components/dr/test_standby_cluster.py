"""The Patroni standby cluster of prod's analytics cluster on the recorded graph: declared by the self-hosted
component through the DR provider in the DR VPC, its nodes rendered as a standby of the primary's replicated
repository, the primary's secrets replicated to it, its alarms waiting for promotion, and its `dr.clusters` entry."""

import base64
import gzip
import json
from typing import Any

import yaml

from scripts.preview.mock_engine import Evaluation, RecordedResource
from tests.components.dr.test_component import DR_REGION, region_of

STANDBY = "cryb-prod-dr-analytics"
PRIMARY = "cryb-prod-analytics"


def children(evaluation: Evaluation, component: str, type_token: str) -> list[RecordedResource]:
    (parent,) = [r for r in evaluation.resources if r.name == component and r.type.startswith("cryb:")]
    return [r for r in evaluation.of_type(type_token) if r.parent == parent.urn]


def written_files(template: RecordedResource) -> dict[str, str]:
    data = yaml.safe_load(gzip.decompress(base64.b64decode(template.inputs["userData"])).decode())
    return {f["path"]: f["content"] for f in data["write_files"]}


def test_the_standby_cluster_is_declared_in_the_dr_region_and_vpc(prod: Evaluation) -> None:
    component = prod.named(STANDBY)
    assert component.type == "cryb:postgres_selfhosted:SelfHostedCluster"
    groups = children(prod, STANDBY, "aws:autoscaling/group:Group")
    assert len(groups) == 3
    assert {region_of(prod, g) for g in groups} == {DR_REGION}
    dr_data_subnets = {s.name for s in prod.of_type("aws:ec2/subnet:Subnet") if s.name.startswith("cryb-prod-dr-data-")}
    assert len(dr_data_subnets) == 3
    for group in groups:
        (subnet,) = group.inputs["vpcZoneIdentifiers"]
        assert any(name in subnet for name in dr_data_subnets), subnet
    # Its own etcd: the members are its own three nodes.
    envs = [
        written_files(t)["/etc/cryb-db/etcd.env"]
        for t in children(prod, STANDBY, "aws:ec2/launchTemplate:LaunchTemplate")
    ]
    assert all(
        env.count("analytics-a=https://") == 1 and 'ETCD_INITIAL_CLUSTER_TOKEN="cryb-db-cryb-prod-dr-analytics"' in env
        for env in envs
    )


def test_its_nodes_render_a_standby_of_the_primarys_replicated_repository(prod: Evaluation) -> None:
    templates = children(prod, STANDBY, "aws:ec2/launchTemplate:LaunchTemplate")
    replica_bucket = prod.outputs["backups"]["replicaBucketName"]
    assert replica_bucket != prod.outputs["backups"]["bucketName"]
    for template in templates:
        files = written_files(template)
        patroni = yaml.safe_load(files["/etc/patroni/cryb/patroni.yml"])
        assert patroni["scope"] == "analytics"
        assert patroni["bootstrap"]["dcs"]["standby_cluster"]["restore_command"] == (
            "pgbackrest --config-path=/etc/pgbackrest --stanza=analytics --repo1-path=/pgbackrest-analytics "
            'archive-get %f "%p"'
        )
        conf = dict(line.split("=", 1) for line in files["/etc/pgbackrest/pgbackrest.conf"].splitlines() if "=" in line)
        assert conf["repo1-path"] == "/pgbackrest-analytics-dr"  # its own prefix, written only once promoted
        assert conf["repo1-s3-region"] == DR_REGION
        assert conf["repo1-s3-bucket"] == replica_bucket
        assert conf["repo1-s3-kms-key-id"].startswith(f"arn:aws:kms:{DR_REGION}:")
    primary = children(prod, PRIMARY, "aws:ec2/launchTemplate:LaunchTemplate")[0]
    assert (
        "standby_cluster"
        not in yaml.safe_load(written_files(primary)["/etc/patroni/cryb/patroni.yml"])["bootstrap"]["dcs"]
    )


def test_it_uses_the_primarys_secrets_replicated_to_the_dr_region(prod: Evaluation) -> None:
    # Its own CA (etcd, and the nodes' PostgreSQL certificates) and that CA's published certificate.
    assert sorted(s.name for s in children(prod, STANDBY, "aws:secretsmanager/secret:Secret")) == [
        f"{STANDBY}-etcd-ca",
        f"{STANDBY}-tls-ca-cert",
    ]
    primary_secrets = children(prod, PRIMARY, "aws:secretsmanager/secret:Secret")
    replicated = [s for s in primary_secrets if s.inputs.get("replicas")]
    assert len(replicated) == len(primary_secrets) - 2  # all but the primary's own CA and its certificate
    for secret in replicated:
        (replica,) = secret.inputs["replicas"]
        assert replica["region"] == DR_REGION and replica["kmsKeyId"].startswith(f"arn:aws:kms:{DR_REGION}:")
    agent = json.loads(
        written_files(children(prod, STANDBY, "aws:ec2/launchTemplate:LaunchTemplate")[0])[
            "/etc/cryb-db/credentials-agent.json"
        ]
    )
    arns = [v for v in _strings(agent) if v.startswith("arn:aws:secretsmanager:")]
    assert arns and all(f":secretsmanager:{DR_REGION}:" in a and "/cryb-prod-analytics-" in a for a in arns), arns


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_its_role_reads_the_source_prefix_and_writes_only_its_own(prod: Evaluation) -> None:
    policies = {
        p.name: json.loads(p.inputs["policy"]) for p in children(prod, STANDBY, "aws:iam/rolePolicy:RolePolicy")
    }
    writer = policies[f"{STANDBY}-backup-prefix"]
    reader = policies[f"{STANDBY}-source-prefix"]
    (own,) = [s["Resource"] for s in writer["Statement"] if s["Sid"] == "ReadWriteOwnPrefix"]
    assert own.endswith(":::" + own.split(":::")[1]) and own.endswith("/pgbackrest-analytics-dr/*")
    (read,) = [s for s in reader["Statement"] if s["Sid"] == "ReadSourcePrefix"]
    assert read["Action"] == "s3:GetObject" and read["Resource"].endswith("/pgbackrest-analytics/*")
    (deny,) = [s for s in reader["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == ["s3:PutObject", "s3:DeleteObject"]


def test_its_alarms_go_to_the_dr_topics_with_actions_off_until_promotion(prod: Evaluation) -> None:
    alarms = children(prod, "cryb-prod-dr-monitoring", "aws:cloudwatch/metricAlarm:MetricAlarm")
    composites = children(prod, "cryb-prod-dr-monitoring", "aws:cloudwatch/compositeAlarm:CompositeAlarm")
    assert len(alarms) >= 3 * 5 and [c.inputs["alarmName"] for c in composites] == [f"{STANDBY}-unhealthy"]
    for alarm in [*alarms, *composites]:
        assert alarm.inputs["actionsEnabled"] is False
        assert all(f":sns:{DR_REGION}:" in arn for arn in alarm.inputs["alarmActions"])
        assert region_of(prod, alarm) == DR_REGION
        assert str(alarm.inputs.get("name") or alarm.inputs.get("alarmName")).startswith(STANDBY)
    primary = [
        a for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.startswith("cryb-prod-monitoring-")
    ]
    assert primary and all(a.inputs["actionsEnabled"] is True for a in primary)


def test_the_dr_outputs_name_the_standby_cluster(prod: Evaluation) -> None:
    (entry,) = prod.outputs["dr"]["clusters"]
    assert entry["kind"] == "patroni-standby-cluster"
    assert (entry["name"], entry["source"], entry["standbyIdentifier"]) == ("analytics", PRIMARY, STANDBY)
    assert entry["region"] == DR_REGION and entry["sourceBackupPrefix"] == "pgbackrest-analytics"
    assert entry["backup"]["prefix"] == "pgbackrest-analytics-dr"
    assert entry["secretArn"].startswith(f"arn:aws:secretsmanager:{DR_REGION}:")
    assert entry["writerEndpoint"] == "writer.analytics.prod-dr.cryb-db.internal"


def test_dev_declares_no_standby_cluster(dev: Evaluation) -> None:
    assert not [r for r in dev.resources if r.name.startswith("cryb-dev-dr-")]
    assert not any(s.inputs.get("replicas") for s in dev.of_type("aws:secretsmanager/secret:Secret"))
