"""The data stores on the cluster (`engine: kubernetes`), on the graph the real program records for the documented
example stack (docs/examples/Pulumi.prod-kubernetes.yaml): CloudNativePG clusters as the issue asks (3 instances,
synchronous, zone anti-affinity, TLS only, tuned, barman-cloud to the backup bucket through IRSA, ScheduledBackup,
Pooler with a PDB), the analytics cluster on the TimescaleDB image, the cache StatefulSet, credentials only through
External Secrets, the backup roles' least privilege, the outputs contract and a clean policy report."""

import json
from typing import Any

import jsonschema
import pytest

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from scripts.preview.render import policy_report
from tests.components.kubernetes.schemas import validate

EXAMPLE = PROJECT_DIR / "docs" / "examples" / "Pulumi.prod-kubernetes.yaml"
NS = "cryb-db-data"
SHARDS = [f"shard{i}" for i in range(4)]


@pytest.fixture(scope="module")
def stack() -> Evaluation:
    return evaluate("prod", EXAMPLE)


def objects(stack: Evaluation, kind: str) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["metadata"]["name"]: r.inputs
        for r in stack.resources
        if r.custom and r.type.startswith("kubernetes:") and r.inputs.get("kind") == kind
    }


def aws_resources(stack: Evaluation, type_: str) -> dict[str, RecordedResource]:
    return {r.name: r for r in stack.resources if r.type == type_}


def test_the_component_and_its_token(stack: Evaluation) -> None:
    (component,) = [r for r in stack.resources if r.type == "cryb:kubernetes:DataStores"]
    assert component.name == "cryb-prod-data"


def test_every_object_validates_against_its_schema(stack: Evaluation) -> None:
    against = {
        r.inputs["kind"]: validate(r.inputs, "1.33")
        for r in stack.resources
        if r.custom and r.type.startswith("kubernetes:") and "apiVersion" in r.inputs
    }
    assert against["Cluster"] == "CRD postgresql.cnpg.io/v1/Cluster"
    assert against["Pooler"] == "CRD postgresql.cnpg.io/v1/Pooler"
    assert against["ScheduledBackup"] == "CRD postgresql.cnpg.io/v1/ScheduledBackup"
    assert against["PrometheusRule"] == "CRD monitoring.coreos.com/v1/PrometheusRule"
    assert against["PodMonitor"] == "CRD monitoring.coreos.com/v1/PodMonitor"
    assert {"StatefulSet", "Job", "StorageClass", "PodDisruptionBudget", "Certificate"} <= set(against)


def test_the_operator_is_a_pinned_helm_release(stack: Evaluation) -> None:
    (release,) = [r for r in stack.resources if r.type == "kubernetes:helm.sh/v3:Release"]
    assert release.inputs["chart"] == "cloudnative-pg"
    assert release.inputs["version"] == "0.29.0"  # the chart of operator 1.30.0, whose CRDs are vendored
    assert release.inputs["repositoryOpts"] == {"repo": "https://cloudnative-pg.github.io/charts"}


def test_each_shard_is_a_synchronous_three_instance_cluster_across_zones(stack: Evaluation) -> None:
    clusters = objects(stack, "Cluster")
    assert sorted(clusters) == sorted([*SHARDS, "analytics"])
    for name in SHARDS:
        spec = clusters[name]["spec"]
        assert spec["instances"] == 3
        assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "required"}
        assert spec["affinity"] == {
            "enablePodAntiAffinity": True,
            "topologyKey": "topology.kubernetes.io/zone",
            "podAntiAffinityType": "required",
        }
        assert spec["enableSuperuserAccess"] is False
        assert spec["postgresql"]["pg_hba"][:2] == [
            "hostnossl all all 0.0.0.0/0 reject",
            "hostnossl all all ::/0 reject",
        ]
        # a `system` image (Barman Cloud for the in-tree backups), pinned by the catalog's digest
        assert spec["imageName"] == (
            "ghcr.io/cloudnative-pg/postgresql:17.11-202608170816-system-bookworm"
            "@sha256:d24d5a390d90b20a43ef7036981f5e6c6f78bbd3198a1e2cd99443fbbd14a9b8"
        )
        assert spec["bootstrap"]["initdb"]["secret"] == {"name": f"{name}-owner"}


def test_parameters_are_the_tuning_of_the_pods_size(stack: Evaluation) -> None:
    """4 vCPU and 32 GiB (the dataStores defaults): 25 % shared buffers in 8 kB pages, 100 connections per vCPU."""
    spec = objects(stack, "Cluster")["shard0"]["spec"]
    params = spec["postgresql"]["parameters"]
    assert params["shared_buffers"] == f"{8 * 1024 * 1024}kB"  # with its unit: the operator reads a bare number as MB
    assert params["effective_cache_size"] == str(24 * 1024 * 1024 // 8)
    assert params["max_connections"] == "400"
    assert params["password_encryption"] == "scram-sha-256"
    assert not {"rds.force_ssl", "rds.logical_replication", "shared_preload_libraries"} & set(params)
    assert spec["postgresql"]["shared_preload_libraries"] == ["pg_stat_statements", "auto_explain", "pgaudit"]
    assert spec["resources"]["requests"] == spec["resources"]["limits"] == {"cpu": "4", "memory": "32768Mi"}


def test_analytics_runs_on_the_timescaledb_image(stack: Evaluation) -> None:
    spec = objects(stack, "Cluster")["analytics"]["spec"]
    assert spec["imageName"] == "ghcr.io/clevyr/cloudnativepg-timescale:17.5-22-ts2.19.3"
    assert spec["postgresql"]["shared_preload_libraries"][0] == "timescaledb"
    assert spec["bootstrap"]["initdb"]["postInitApplicationSQL"] == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]


def test_backups_go_to_the_bucket_as_the_clusters_own_role(stack: Evaluation) -> None:
    bucket = stack.outputs["backups"]["bucketName"]
    key = stack.outputs["backups"]["bucketKmsKeyArn"]
    roles = aws_resources(stack, "aws:iam/role:Role")
    policies = aws_resources(stack, "aws:iam/rolePolicy:RolePolicy")
    for name, cluster in objects(stack, "Cluster").items():
        spec = cluster["spec"]
        store = spec["backup"]["barmanObjectStore"]
        assert store["destinationPath"] == f"s3://{bucket}/cnpg-{name}/"
        assert store["s3Credentials"] == {"inheritFromIAMRole": True}
        assert store["wal"]["archiveAdditionalCommandArgs"] == [f"--sse-kms-key-id={key}"]
        assert store["data"]["additionalCommandArgs"] == [f"--sse-kms-key-id={key}"]
        assert spec["backup"]["retentionPolicy"] == ("35d")
        role = roles[f"cryb-prod-data-{name}-backup-role"]
        annotation = spec["serviceAccountTemplate"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert annotation.endswith(f"/cryb-prod-data-{name}-backup-role")
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        (subject,) = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
        assert subject == f"system:serviceaccount:{NS}:{name}"  # the service account the operator names after it
        policy = json.loads(policies[f"cryb-prod-data-{name}-backup-prefix"].inputs["policy"])
        writes = next(s for s in policy["Statement"] if s["Sid"] == "ReadWriteOwnPrefix")
        assert writes["Resource"].endswith(f":{bucket}/cnpg-{name}/*")
    schedules = objects(stack, "ScheduledBackup")
    assert {s["spec"]["cluster"]["name"] for s in schedules.values()} == {*SHARDS, "analytics"}
    assert all(s["spec"]["schedule"] == "0 0 3 * * *" for s in schedules.values())


def test_every_pooler_fits_the_servers_connections_and_has_a_pdb(stack: Evaluation) -> None:
    budgets = objects(stack, "PodDisruptionBudget")
    for name, pooler in objects(stack, "Pooler").items():
        spec = pooler["spec"]
        params = spec["pgbouncer"]["parameters"]
        assert spec["pgbouncer"]["poolMode"] == "transaction"
        assert int(params["max_prepared_statements"]) > 0
        # Every pod with full pools stays under max_connections (400) less the reserved 10 and 3 superuser slots.
        assert spec["instances"] * int(params["max_db_connections"]) <= 400 - 10 - 3
        assert budgets[name]["spec"]["selector"]["matchLabels"] == {"cnpg.io/poolerName": name}


def test_credentials_only_through_external_secrets(stack: Evaluation) -> None:
    assert objects(stack, "Secret") == {}
    secrets = objects(stack, "ExternalSecret")
    for name in [*SHARDS, "analytics"]:
        owner = secrets[f"{name}-owner"]["spec"]
        assert owner["target"]["template"]["type"] == "kubernetes.io/basic-auth"
        assert owner["dataFrom"][0]["extract"]["key"].endswith(f"cryb-prod-data-{name}-owner")
    users = secrets["cache-users"]["spec"]["data"]
    assert {u["secretKey"]: u["remoteRef"]["key"].rsplit("-", 1)[-1] for u in users} == {
        "app": "app",
        "reader": "reader",
        "admin": "admin",
        "replicator": "replicator",
    }
    versions = aws_resources(stack, "aws:secretsmanager/secretVersion:SecretVersion")
    for name in [*SHARDS, "analytics"]:
        assert "secretString" in versions[f"cryb-prod-data-{name}-owner-value"].secret_paths


def test_the_cache_statefulset(stack: Evaluation) -> None:
    (sts,) = objects(stack, "StatefulSet").values()
    spec = sts["spec"]
    assert spec["replicas"] == 6
    assert spec["serviceName"] == "cache-nodes"
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "cryb-db-gp3-encrypted"
    (storage_class,) = objects(stack, "StorageClass").values()
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["parameters"]["encrypted"] == "true"
    assert storage_class["parameters"]["kmsKeyId"] == stack.outputs["kmsKeyArns"]["data"]
    headless = objects(stack, "Service")["cache-nodes"]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert objects(stack, "PodDisruptionBudget")["cache"]["spec"]["maxUnavailable"] == 1
    files = objects(stack, "ConfigMap")["cache-config"]["data"]
    assert "tls-port 6379" in files["node.conf"] and "port 0" in files["node.conf"]
    assert "cache-5.cache-nodes.cryb-db-data.svc.cluster.local" in files["form-cluster.sh"]
    (job,) = objects(stack, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["bash", "/etc/cache/conf/form-cluster.sh"]


def test_the_outputs_contract_holds(stack: Evaluation) -> None:
    schema = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(stack.outputs)
    shard = stack.outputs["postgres"]["shards"][2]
    assert shard["writerEndpoint"] == f"shard2-rw.{NS}.svc.cluster.local"
    assert shard["proxyEndpoint"] == f"shard2-pooler-rw.{NS}.svc.cluster.local"
    assert stack.outputs["postgres"]["engine"] == "cloudnativepg-postgresql"
    assert stack.outputs["cache"]["configurationEndpoint"] == f"cache.{NS}.svc.cluster.local"
    assert stack.outputs["kubernetes"]["poolers"] == {}  # no Part A PgBouncer: every cluster has its Pooler


def test_applications_may_reach_the_poolers_and_the_cache(stack: Evaluation) -> None:
    policies = [
        r.inputs
        for r in stack.resources
        if r.inputs.get("kind") == "NetworkPolicy" and r.inputs["metadata"]["namespace"] == "api"
    ]
    egress = [rule for p in policies for rule in p["spec"].get("egress", [])]
    to_data = [
        rule
        for rule in egress
        if any(
            t.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == NS
            for t in rule["to"]
        )
    ]
    assert sorted(rule["ports"][0]["port"] for rule in to_data) == [5432, 6379]


def test_the_example_stack_previews_without_mandatory_violations(stack: Evaluation) -> None:
    violations = policy_report(stack)
    assert [v for v in violations if v["level"] == "mandatory"] == []
    advisory = {v["policy"] for v in violations}
    assert advisory <= {"secretsmanager-every-secret-rotates"}  # no rotation for these credentials yet


def test_an_application_reads_the_clusters_owner_secret(stack: Evaluation) -> None:
    """`applications[].selfhostedClusters: [analytics]` with selfhosted.engine kubernetes: the CloudNativePG owner's
    secret, and the shards' owners' (postgres: true)."""
    external = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]["dataFrom"][0]["extract"]["key"]
        for r in stack.resources
        if r.inputs.get("kind") == "ExternalSecret" and r.inputs["metadata"]["namespace"] == "api"
    }
    assert external["postgres-analytics"].endswith("cryb-prod-data-analytics-owner")
    assert external["postgres-shard3"].endswith("cryb-prod-data-shard3-owner")
    assert external["cache-app"].endswith("cryb-prod-cache-app")


def test_every_store_is_scraped_over_tls_and_has_its_alerts(stack: Evaluation) -> None:
    """A PodMonitor per cluster verifying the instances' exporter with the cluster's CA, one for the cache's exporter
    sidecars with the nodes' CA; a PrometheusRule per store; both with the example's selector label; and the
    NetworkPolicies admit the Prometheus namespace on the exporters' ports only."""
    monitors, rules = objects(stack, "PodMonitor"), objects(stack, "PrometheusRule")
    clusters = objects(stack, "Cluster")
    assert sorted(rules) == sorted(f"{name}-alerts" for name in [*SHARDS, "analytics", "cache"])
    assert sorted(monitors) == sorted([*SHARDS, "analytics", "cache"])
    for name, cluster in clusters.items():
        assert cluster["spec"]["monitoring"] == {"tls": {"enabled": True}}
        spec = monitors[name]["spec"]
        assert spec["selector"]["matchLabels"] == {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance"}
        (endpoint,) = spec["podMetricsEndpoints"]
        assert (endpoint["port"], endpoint["scheme"]) == ("metrics", "https")
        assert endpoint["tlsConfig"] == {
            "ca": {"secret": {"name": f"{name}-ca", "key": "ca.crt"}},
            "serverName": f"{name}-rw",
        }
    (sts,) = objects(stack, "StatefulSet").values()
    (exporter,) = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "exporter"]
    assert exporter["image"] == "oliver006/redis_exporter:v1.88.0"
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9121, "protocol": "TCP"}]
    cache = monitors["cache"]["spec"]
    assert cache["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    assert cache["podMetricsEndpoints"][0]["tlsConfig"]["serverName"] == f"cache.{NS}.svc.cluster.local"
    for obj in [*monitors.values(), *rules.values()]:
        assert obj["metadata"]["namespace"] == NS
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    policies = objects(stack, "NetworkPolicy")
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for policy, port in (("allow-postgres", 9187), ("allow-cache", 9121)):
        admitted = [r["ports"] for r in policies[policy]["spec"]["ingress"] if prometheus in r["from"]]
        assert admitted == [[{"protocol": "TCP", "port": port}]]
