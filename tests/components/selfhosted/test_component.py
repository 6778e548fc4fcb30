"""SelfHostedCluster under the mock engine: a tiny program in tmp_path declares one cluster, and the recorded
resources are checked for what an auditor would check (IMDSv2, no public IP, encryption, one node per AZ,
scoped security groups, health checks, least-privilege IAM, tags, parents)."""

import base64
import gzip
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest
import yaml

from components.selfhosted.cloud_init import PATRONI_YML
from components.selfhosted.patroni_config import PatroniConfigError
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from tests.selfhosted_programs import TAGS, cluster_args_source

NAME = "cryb-test-analytics"

PROGRAM = """
import pulumi
from components.selfhosted.patroni_config import DcsTiming
from components.selfhosted.component import SelfHostedCluster

cluster = SelfHostedCluster("{name}", {args})
pulumi.export("cluster", cluster.cluster_outputs())
pulumi.export(
    "nodeGroups",
    [
        {{"node": g.node, "resource": g.resource, "az": g.availability_zone, "asg": g.asg_name}}
        for g in cluster.node_groups
    ],
)
pulumi.export(
    "metrics",
    {{
        helper: [
            [m.namespace, m.metric_name, m.dimensions, m.statistic, m.period_seconds]
            for m in (lambda found: found if isinstance(found, list) else [found])(getattr(cluster, helper)())
        ]
        for helper in dir(cluster)
        if helper.startswith("metric_")
    }},
)
"""


def run(tmp_path: Path, node_count: int = 3) -> Evaluation:
    args = cluster_args_source(
        "DcsTiming(30, 10, 10)", node_count=node_count, package_proxy="http://proxy.internal:3128"
    )
    (tmp_path / "__main__.py").write_text(PROGRAM.format(name=NAME, args=args))
    config = tmp_path / "Pulumi.test.yaml"
    config.write_text(textwrap.dedent("config:\n  aws:region: us-east-1\n"))
    return evaluate("test", config, program_dir=tmp_path)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    return run(tmp_path_factory.mktemp("selfhosted"))


def of(ev: Evaluation, token: str) -> list[RecordedResource]:
    return ev.of_type(token)


def user_data(template: RecordedResource) -> dict[str, Any]:
    text = gzip.decompress(base64.b64decode(template.inputs["userData"])).decode()
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_three_nodes_each_an_asg_of_one_in_its_own_az(evaluation: Evaluation) -> None:
    groups = of(evaluation, "aws:autoscaling/group:Group")
    templates = {t.id: t for t in of(evaluation, "aws:ec2/launchTemplate:LaunchTemplate")}
    assert len(groups) == 3 and len(templates) == 3
    subnets = []
    for group in groups:
        assert (group.inputs["minSize"], group.inputs["maxSize"], group.inputs["desiredCapacity"]) == (1, 1, 1)
        assert len(group.inputs["vpcZoneIdentifiers"]) == 1
        subnets.append(group.inputs["vpcZoneIdentifiers"][0])
        assert group.inputs["launchTemplate"]["id"] in templates
    assert sorted(subnets) == ["subnet-data-a", "subnet-data-b", "subnet-data-c"]
    assert len({g.inputs["launchTemplate"]["id"] for g in groups}) == 3


def test_launch_templates_require_imdsv2_no_public_ip_encrypted_root_and_the_profile(evaluation: Evaluation) -> None:
    profile = evaluation.named(f"{NAME}-node-profile")
    for template in of(evaluation, "aws:ec2/launchTemplate:LaunchTemplate"):
        inputs = template.inputs
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (nic,) = inputs["networkInterfaces"]
        assert nic["associatePublicIpAddress"] == "false"
        assert nic["securityGroups"] == [evaluation.named(f"{NAME}-nodes-sg").id]
        (disk,) = inputs["blockDeviceMappings"]
        assert disk["ebs"]["encrypted"] == "true"
        assert disk["ebs"]["kmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/data"
        assert inputs["iamInstanceProfile"]["arn"] == f"arn:aws:iam::123456789012:instance-profile/{profile.name}"
        assert inputs["instanceType"] == "i4i.2xlarge"
        assert inputs["imageId"] == "resolve:ssm:/aws/service/debian/release/bookworm/latest/amd64"


def test_user_data_renders_the_cluster_from_the_stable_addresses_without_secrets(evaluation: Evaluation) -> None:
    enis = sorted(of(evaluation, "aws:ec2/networkInterface:NetworkInterface"), key=lambda r: r.name)
    ips = [f"10.98.{len(e.name) % 256}.{sum(e.name.encode()) % 250 + 4}" for e in enis]  # the mock's privateIp
    assert sorted(e.inputs["subnetId"] for e in enis) == ["subnet-data-a", "subnet-data-b", "subnet-data-c"]
    for template in of(evaluation, "aws:ec2/launchTemplate:LaunchTemplate"):
        document = user_data(template)
        written = {f["path"]: f["content"] for f in document["write_files"]}
        patroni = yaml.safe_load(written[PATRONI_YML])
        assert patroni["etcd3"]["hosts"] == [f"{ip}:2379" for ip in ips]
        assert patroni["bootstrap"]["dcs"]["synchronous_mode_strict"] is True
        assert "repo1-path=/pgbackrest-analytics" in written["/etc/pgbackrest/pgbackrest.conf"]
        assert "repo1-s3-bucket=cryb-test-backups" in written["/etc/pgbackrest/pgbackrest.conf"]
        assert "mock-" not in json.dumps(document)  # the generated passwords never reach user data


def test_security_groups_admit_postgres_from_clients_and_keep_rest_and_etcd_inside(evaluation: Evaluation) -> None:
    nodes_sg = evaluation.named(f"{NAME}-nodes-sg").id
    nlb_sg = evaluation.named(f"{NAME}-nlb-sg").id
    ingress = of(evaluation, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert not any(rule.inputs.get("cidrIpv4") for rule in ingress)  # nothing by address, least of all 0.0.0.0/0

    def sources(port: int) -> set[str]:
        return {
            r.inputs["referencedSecurityGroupId"]
            for r in ingress
            if r.inputs["securityGroupId"] == nodes_sg and r.inputs["fromPort"] <= port <= r.inputs["toPort"]
        }

    assert sources(5432) == {"sg-app", "sg-pooler", nlb_sg, nodes_sg}
    assert sources(8008) == {nodes_sg, nlb_sg}  # the NLBs only for their health checks
    assert sources(2379) == sources(2380) == {nodes_sg}
    nlb_in = {r.inputs["referencedSecurityGroupId"] for r in ingress if r.inputs["securityGroupId"] == nlb_sg}
    assert nlb_in == {"sg-app", "sg-pooler"}
    egress = of(evaluation, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    wide = [r for r in egress if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert [(r.inputs["fromPort"], r.inputs["toPort"]) for r in wide] == [(443, 443)]


def test_writer_and_reader_are_internal_nlbs_health_checked_on_primary_and_replica(evaluation: Evaluation) -> None:
    enis = of(evaluation, "aws:ec2/networkInterface:NetworkInterface")
    ips = sorted(f"10.98.{len(e.name) % 256}.{sum(e.name.encode()) % 250 + 4}" for e in enis)
    for role, path in (("writer", "/primary"), ("reader", "/replica")):
        lb = evaluation.named(f"{NAME}-{role}")
        assert lb.inputs["internal"] is True and lb.inputs["loadBalancerType"] == "network"
        assert lb.inputs["enableCrossZoneLoadBalancing"] is True
        group = evaluation.named(f"{NAME}-{role}-tg")
        check = group.inputs["healthCheck"]
        assert (check["path"], check["port"], check["protocol"], check["matcher"]) == (path, "8008", "HTTPS", "200")
        assert group.inputs["targetType"] == "ip" and group.inputs["port"] == 5432
        targets = [
            a.inputs["targetId"]
            for a in of(evaluation, "aws:lb/targetGroupAttachment:TargetGroupAttachment")
            if a.inputs["targetGroupArn"].split(":")[-1].split("/")[1] == group.name
        ]
        assert sorted(targets) == ips  # every node's stable address; health decides who gets traffic
        record = evaluation.named(f"{NAME}-{role}-record")
        assert record.inputs["name"] == f"{role}.analytics.test.cryb-db.internal"
    zone = evaluation.named(f"{NAME}-zone")
    assert zone.inputs["vpcs"] == [{"vpcId": "vpc-0test"}]  # private


def test_instance_profile_is_least_privilege(evaluation: Evaluation) -> None:
    backup = json.loads(evaluation.named(f"{NAME}-backup-prefix").inputs["policy"])
    statements = {s["Sid"]: s for s in backup["Statement"]}
    assert statements["ReadWriteOwnPrefix"]["Resource"] == "arn:aws:s3:::cryb-test-backups/pgbackrest-analytics/*"
    assert statements["ListOwnPrefixOnly"]["Condition"]["StringLike"]["s3:prefix"] == [
        "pgbackrest-analytics/",
        "pgbackrest-analytics/*",
    ]
    node = json.loads(evaluation.named(f"{NAME}-node").inputs["policy"])
    secrets = {s.id: s for s in of(evaluation, "aws:secretsmanager/secret:Secret")}
    node_statements = {s["Sid"]: s for s in node["Statement"]}
    (etcd_ca,) = [s for s in secrets.values() if s.name == f"{NAME}-etcd-ca"]
    (ca_cert,) = [s for s in secrets.values() if s.name == f"{NAME}-tls-ca-cert"]
    credentials = [s for s in secrets.values() if s not in (etcd_ca, ca_cert)]
    assert len(node_statements["ReadClusterSecrets"]["Resource"]) == len(credentials) >= 6
    ca_arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret/{etcd_ca.name}"
    ca_cert_arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret/{ca_cert.name}"
    assert ca_arn not in node_statements["ReadClusterSecrets"]["Resource"]
    # The CA (the first node to boot stores it) and its published certificate are the only secrets a node may write.
    writes = [s for s in node["Statement"] if "secretsmanager:PutSecretValue" in s["Action"]]
    assert [w["Resource"] for w in writes] == [ca_arn, ca_cert_arn]
    for statement in [*backup["Statement"], *node["Statement"]]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a == "*" or a.endswith(":*") for a in actions)
    trust = json.loads(evaluation.named(f"{NAME}-node-role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_secrets_are_encrypted_with_the_secrets_key(evaluation: Evaluation) -> None:
    for secret in of(evaluation, "aws:secretsmanager/secret:Secret"):
        assert secret.inputs["kmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/secrets"
    for version in of(evaluation, "aws:secretsmanager/secretVersion:SecretVersion"):
        assert "secretString" in version.secret_paths


def taggable(token: str) -> bool:
    module, cls = token.split(":")[1].split("/")[0], token.split(":")[2]
    resource = getattr(getattr(aws, module), cls)
    return "tags" in inspect.signature(resource._internal_init).parameters


def test_every_taggable_child_is_tagged_named_and_parented(evaluation: Evaluation) -> None:
    component = evaluation.named(NAME)
    assert component.type == "cryb:postgres_selfhosted:SelfHostedCluster"
    for resource in evaluation.resources:
        if resource is component:
            continue
        assert resource.name.startswith(f"{NAME}-"), resource.name
        assert resource.parent == component.urn, resource.name
        if not resource.type.startswith("aws:") or not taggable(resource.type):
            continue
        tags = resource.inputs.get("tags")
        if resource.type == "aws:autoscaling/group:Group":
            tags = {t["key"]: t["value"] for t in tags or [] if t["propagateAtLaunch"]}
        assert tags and all(tags.get(k) == v for k, v in TAGS.items()), resource.name
        assert tags.get("cryb-db-cluster") == "analytics" and tags.get("Name"), resource.name


def test_outputs_follow_the_rds_shard_contract(evaluation: Evaluation) -> None:
    out = evaluation.outputs["cluster"]
    assert out["writerEndpoint"] == "writer.analytics.test.cryb-db.internal"
    assert out["readerEndpoints"] == ["reader.analytics.test.cryb-db.internal"]
    assert out["port"] == 5432 and out["databaseName"] == "cryb"
    assert out["secretArn"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:")
    assert out["secretArn"].endswith(f"/{NAME}-admin")  # the application admin, never the superuser
    assert [n["availabilityZone"] for n in out["nodes"]] == ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_an_unsafe_cluster_is_refused_before_any_resource(tmp_path: Path) -> None:
    with pytest.raises(PatroniConfigError, match="synchronous_mode_strict with 2 nodes"):
        run(tmp_path, node_count=2)


def test_analytics_nodes_preload_pg_cron_and_let_the_admin_run_the_migrations(evaluation: Evaluation) -> None:
    """What scripts/analytics/ needs on a TimescaleDB-less node: pg_cron in the database, and
    pg_partman and cron usable by the admin role it connects as."""
    for template in of(evaluation, "aws:ec2/launchTemplate:LaunchTemplate"):
        written = {f["path"]: f["content"] for f in user_data(template)["write_files"]}
        patroni = yaml.safe_load(written[PATRONI_YML])
        # preload is per node (a restart parameter), the cron database cluster-wide
        assert "pg_cron" in patroni["postgresql"]["parameters"]["shared_preload_libraries"].split(",")
        assert patroni["bootstrap"]["dcs"]["postgresql"]["parameters"]["cron.database_name"] == "cryb"
        post_bootstrap = written["/usr/local/sbin/cryb-pg-post-bootstrap"]
        for grant in (
            "GRANT ALL ON SCHEMA partman TO cryb_admin;",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO cryb_admin;",
            "GRANT USAGE ON SCHEMA cron TO cryb_admin",
        ):
            assert grant in post_bootstrap


def test_node_groups_and_metric_helpers_name_each_nodes_auto_scaling_group(evaluation: Evaluation) -> None:
    groups = {g.name: g for g in of(evaluation, "aws:autoscaling/group:Group")}
    node_groups = evaluation.outputs["nodeGroups"]
    assert [(g["node"], g["az"]) for g in node_groups] == [
        ("analytics-a", "us-east-1a"),
        ("analytics-b", "us-east-1b"),
        ("analytics-c", "us-east-1c"),
    ]
    for group in node_groups:
        assert group["resource"] == group["asg"] and group["asg"] in groups  # the recorded group's (mock) name
        subnet = groups[group["asg"]].inputs["vpcZoneIdentifiers"]
        assert subnet == [f"subnet-data-{group['az'][-1]}"]  # the node's own AZ
    for group in groups.values():
        assert group.inputs["metricsGranularity"] == "1Minute"
        assert set(group.inputs["enabledMetrics"]) >= {"GroupInServiceInstances"}
    metrics = evaluation.outputs["metrics"]
    assert sorted(metrics) == [
        "metric_cpu_utilization",
        "metric_data_disk_used_percent",
        "metric_group_in_service_instances",
        "metric_mem_used_percent",
        "metric_reader_healthy_hosts",
        "metric_replication_lag_bytes",
        "metric_status_check_failed",
        "metric_writer_healthy_hosts",
    ]
    # The metrics agent's: the cluster's component name and each node's Patroni member, known when rendering.
    assert metrics["metric_replication_lag_bytes"] == [
        ["cryb-db/selfhosted", "replication_lag_bytes", {"Cluster": NAME, "Node": g["node"]}, "Maximum", 60]
        for g in node_groups
    ]
    # The endpoints: one metric per cluster, on the target group and the load balancer it serves.
    for role in ("writer", "reader"):
        ((namespace, name, dimensions, statistic, period),) = metrics[f"metric_{role}_healthy_hosts"]
        assert (namespace, name, statistic, period) == ("AWS/NetworkELB", "HealthyHostCount", "Minimum", 60)
        assert dimensions == {
            "TargetGroup": f"targetgroup/{NAME}-{role}-tg/fedcba9876543210",
            "LoadBalancer": f"net/{NAME}-{role}/0123456789abcdef",
        }
    asgs = [g["asg"] for g in node_groups]
    expected = {
        "metric_status_check_failed": ("AWS/EC2", "StatusCheckFailed", "Maximum", {}),
        "metric_cpu_utilization": ("AWS/EC2", "CPUUtilization", "Average", {}),
        "metric_group_in_service_instances": ("AWS/AutoScaling", "GroupInServiceInstances", "Minimum", {}),
        "metric_data_disk_used_percent": ("cryb-db/selfhosted", "disk_used_percent", "Maximum", {"path": "/data"}),
        "metric_mem_used_percent": ("cryb-db/selfhosted", "mem_used_percent", "Average", {}),
    }
    for helper, (namespace, name, statistic, extra) in expected.items():
        assert metrics[helper] == [
            [namespace, name, {"AutoScalingGroupName": asg, **extra}, statistic, 60] for asg in asgs
        ], helper


def test_the_drills_pgbackrest_inputs_render_what_the_prod_nodes_boot_with(prod: Evaluation) -> None:
    """tests/servers/pgbackrest.py drills with `production_inputs`; every prod analytics node's pgbackrest.conf is
    that text (only the bucket and its key come from the stack's resources)."""
    from components.selfhosted.pgbackrest_config import render_pgbackrest_conf
    from tests.servers.pgbackrest import production_inputs

    templates = [
        t for t in prod.of_type("aws:ec2/launchTemplate:LaunchTemplate") if t.name.startswith("cryb-prod-analytics-")
    ]
    assert len(templates) == 3
    for template in templates:
        written = {f["path"]: f["content"] for f in user_data(template)["write_files"]}
        conf = written["/etc/pgbackrest/pgbackrest.conf"]
        options = dict(line.split("=", 1) for line in conf.splitlines() if "=" in line)
        drill = production_inputs(bucket=options["repo1-s3-bucket"], kms_key_arn=options["repo1-s3-kms-key-id"])
        assert conf == render_pgbackrest_conf(drill), template.name
