"""`cryb-db:kubernetes`: off by default; when on, every missing or wrong piece is named (provider, identity, image,
namespaces, the clusters applications name, and a pool budget the servers cannot give)."""

import pytest

from components.config.kubernetes import image_version, pooler_targets
from tests.components.config.test_stack_config import parse, problems

OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
ON = {"enabled": True, "context": "cryb-dev", "oidcProviderArn": OIDC, "applications": [{"name": "api"}]}


def test_off_by_default_and_valid_when_complete() -> None:
    assert parse().kubernetes.enabled is False
    config = parse(kubernetes=ON)
    assert config.kubernetes.applications[0].namespace_name == "api"
    assert config.kubernetes.pgbouncer.min_replicas == 2


@pytest.mark.parametrize(
    ("kubernetes", "expected"),
    [
        ({**ON, "context": None}, "needs context or kubeconfig"),
        ({**ON, "kubeconfig": "apiVersion: v1"}, "set context or kubeconfig, not both"),
        ({**ON, "oidcProviderArn": None}, "oidcProviderArn = None: irsa needs the cluster's IAM OIDC provider ARN"),
        ({**ON, "oidcProviderArn": "arn:aws:iam::1:role/x"}, "not an OIDC provider ARN"),
        ({**ON, "authentication": "pod-identity"}, "controllerRoleArn = None: pod-identity needs"),
        ({**ON, "applications": [{"name": "api"}, {"name": "web", "namespace": "api"}]}, "namespaces ['api']"),
        ({**ON, "applications": [{"name": "Api_1"}]}, "'Api_1': must be a DNS label"),
        ({**ON, "pgbouncer": {"image": "ghcr.io/x/pgbouncer:latest"}}, "tag 'latest' is not an exact version"),
        ({**ON, "pgbouncer": {"image": "ghcr.io/x/pgbouncer"}}, "must name an image by exact version tag"),
        ({**ON, "pgbouncer": {"image": "ghcr.io/x/pgbouncer:1.18.0"}}, "PgBouncer 1.18: needs >= 1.21"),
        ({**ON, "pgbouncer": {"minReplicas": 1}}, "minReplicas = 1: must be >= 2"),
        ({**ON, "pgbouncer": {"minReplicas": 5, "maxReplicas": 3}}, "maxReplicas = 3: must be >= minReplicas (5)"),
        ({**ON, "pgbouncer": {"processesPerPod": 0}}, "cryb-db:kubernetes.pgbouncer.processesPerPod = 0: must be >= 1"),
        ({**ON, "pgbouncer": {"processesPerPod": 9}}, "cryb-db:kubernetes.pgbouncer.processesPerPod = 9: must be <= 8"),
        ({**ON, "pgbouncer": {"processesPerPod": "two"}}, "cryb-db:kubernetes.pgbouncer.processesPerPod = 'two'"),
        ({**ON, "version": "1.20"}, "cryb-db:kubernetes.version = '1.20'"),
        (
            {**ON, "applications": [{"name": "api", "selfhostedClusters": ["olap"]}]},
            "cryb-db:kubernetes.applications[0].selfhostedClusters: 'olap' is not in cryb-db:selfhosted.clusters",
        ),
    ],
)
def test_each_problem_is_named(kubernetes: dict[str, object], expected: str) -> None:
    found = problems(kubernetes=kubernetes)
    assert any(expected in p for p in found), found


def test_a_pool_budget_the_server_cannot_give_is_refused_before_any_resource() -> None:
    """db.t4g.medium: 200 connections, RDS Proxy may take 160; 16 PgBouncer pods cannot share the 27 left."""
    found = problems(
        postgres={"instanceClass": "db.t4g.medium", "shardCount": 1},
        kubernetes={**ON, "pgbouncer": {"maxReplicas": 16}},
    )
    assert any("cryb-db:kubernetes.pgbouncer (pooler of shard0)" in p and "lower maxReplicas" in p for p in found)


def test_processes_per_pod_count_in_the_pool_budget() -> None:
    """db.t4g.medium without a reader (dev): 27 connections for 3 pods x 2 pools; 1 process each leaves 4 per pool,
    the default 2 leave 2 per pool, refused naming processesPerPod; a shard with a reader fits the default."""
    medium = {"instanceClass": "db.t4g.medium", "shardCount": 1, "readReplicas": 0}
    one = parse(postgres=medium, kubernetes={**ON, "pgbouncer": {"maxReplicas": 3, "processesPerPod": 1}})
    assert one.kubernetes.pgbouncer.processes_per_pod == 1
    found = problems(postgres=medium, kubernetes={**ON, "pgbouncer": {"maxReplicas": 3}})
    assert any(
        "cryb-db:kubernetes.pgbouncer (pooler of shard0)" in p
        and "6 x 2 processes = 12 PgBouncer pools: 2 each" in p
        and "processesPerPod" in p
        for p in found
    ), found
    assert parse(kubernetes=ON).kubernetes.pgbouncer.processes_per_pod == 2
    with_reader = parse(postgres={**medium, "readReplicas": 1}, kubernetes={**ON, "pgbouncer": {"maxReplicas": 3}})
    assert with_reader.kubernetes.pgbouncer.processes_per_pod == 2


def test_targets_cover_every_shard_and_selfhosted_cluster() -> None:
    config = parse(
        postgres={"instanceClass": "db.r7g.2xlarge", "shardCount": 2},
        selfhosted={
            "packageProxy": "http://p:3142",
            "clusters": {"analytics": {"instanceType": "i4i.2xlarge", "timescaledb": True}},
        },
        network={"interfaceEndpoints": True},
        kubernetes=ON,
    )
    targets = {t.name: (t.max_connections, t.other_poolers) for t in pooler_targets(config)}
    assert targets == {"shard0": (800, 640), "shard1": (800, 640), "analytics": (800, 0)}


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/cloudnative-pg/pgbouncer:1.24.1", (1, 24)),
        ("registry:5000/pgbouncer:v1.21.0-2@sha256:" + "a" * 64, (1, 21)),
        ("pgbouncer@sha256:" + "b" * 64, None),
        ("pgbouncer:latest", None),
    ],
)
def test_image_version(image: str, version: tuple[int, int] | None) -> None:
    assert image_version(image) == version


@pytest.mark.parametrize("section", ["postgres", "cache"])
def test_the_kubernetes_engine_needs_the_cluster(section: str) -> None:
    (problem,) = problems(**{section: {"engine": "kubernetes"}})
    assert problem == (
        f"cryb-db:{section}.engine = 'kubernetes': needs cryb-db:kubernetes.enabled = true (the cluster the data "
        "stores run on)"
    )


def test_the_kubernetes_engine_needs_irsa() -> None:
    pod_identity = {**ON, "authentication": "pod-identity", "controllerRoleArn": "arn:aws:iam::1:role/eso"}
    (problem,) = problems(postgres={"engine": "kubernetes"}, kubernetes=pod_identity)
    assert problem.startswith(
        "cryb-db:postgres.engine = 'kubernetes': needs cryb-db:kubernetes.authentication = 'irsa'"
    )


def test_the_kubernetes_engine_refuses_rds_keys_and_redis() -> None:
    found = problems(postgres={"engine": "kubernetes", "instanceClass": "db.r7g.large"}, kubernetes=ON)
    assert any("engine = 'kubernetes': instanceClass apply to RDS shards only" in p for p in found), found
    found = problems(cache={"engine": "kubernetes", "engineFlavor": "redis", "engineVersion": "7.1"}, kubernetes=ON)
    assert found == ["cryb-db:cache.engineFlavor = 'redis': the kubernetes engine runs Valkey (cacheImage)"]


def test_kubernetes_shards_and_clusters_get_no_pgbouncer_deployment() -> None:
    """CloudNativePG clusters bring their own Pooler: no Part A PgBouncer targets for them."""
    config = parse(
        postgres={"engine": "kubernetes", "shardCount": 2},
        selfhosted={"engine": "kubernetes", "clusters": {"analytics": {"timescaledb": True}}},
        kubernetes=ON,
    )
    assert pooler_targets(config) == []


@pytest.mark.parametrize(
    ("data_stores", "expected"),
    [
        ({"postgresImage": "ghcr.io/cloudnative-pg/postgresql:latest"}, "dataStores.postgresImage"),
        ({"postgresImage": "ghcr.io/cloudnative-pg/postgresql:17.6-standard-bookworm"}, "dataStores.postgresImage"),
        ({"timescaledbImage": "example.com/ts:17.6-minimal-trixie-ts2.22"}, "dataStores.timescaledbImage"),
        ({"cacheImage": "valkey/valkey"}, "dataStores.cacheImage"),
        ({"backupSchedule": "0 3 * * *"}, "dataStores.backupSchedule"),
        ({"poolerInstances": 1}, "dataStores.poolerInstances"),
        ({"namespace": "Data"}, "dataStores.namespace"),
        ({"exporterImage": "oliver006/redis_exporter:latest"}, "dataStores.exporterImage"),
        ({"prometheusNamespace": "Monitoring"}, "dataStores.prometheusNamespace"),
        ({"prometheusSelectorLabels": {"release": "kube prometheus"}}, "dataStores.prometheusSelectorLabels"),
        ({"prometheusSelectorLabels": {"-release": "kps"}}, "['-release']"),
    ],
)
def test_data_store_settings_are_checked(data_stores: dict[str, object], expected: str) -> None:
    found = problems(kubernetes={**ON, "dataStores": data_stores})
    assert any(expected in p for p in found), found


def test_cloudnativepg_instances_need_the_eks_clusters_zones_not_the_vpcs() -> None:
    """Three instances on a two-AZ VPC: the EKS cluster's zones decide (its admin provides 3); Patroni nodes live
    in the VPC's subnets, so engine ec2 is still refused."""
    network = {"azCount": 2, "natGateways": "single", "interfaceEndpoints": True}
    config = parse(network=network, postgres={"engine": "kubernetes"}, kubernetes=ON)
    assert (config.network.az_count, config.postgres.ec2.node_count) == (2, 3)
    ec2 = problems(network=network, postgres={"engine": "ec2"}, selfhosted={"packageProxy": "http://p:3142"})
    assert any("cryb-db:postgres.ec2.nodeCount = 3: needs as many AZs" in p for p in ec2), ec2


def test_operand_images_without_barman_cloud_are_refused_with_the_reason() -> None:
    """In-tree backups run barman-cloud-* in the PostgreSQL container: minimal/standard images lack it."""
    image = "ghcr.io/cloudnative-pg/postgresql:17.6-standard-bookworm"
    found = problems(kubernetes={**ON, "dataStores": {"postgresImage": image}})
    assert len(found) == 1, found
    key = "cryb-db:kubernetes.dataStores.postgresImage"
    assert found[0].startswith(f"{key} = {image!r}: tag '17.6-standard-bookworm'"), found
    assert "without Barman Cloud" in found[0] and "use a `system` image" in found[0]
    for accepted in ("ghcr.io/cloudnative-pg/postgresql:17.11-system-bookworm", "registry.example/pg:17.6-22"):
        config = parse(kubernetes={**ON, "dataStores": {"postgresImage": accepted}})
        assert config.kubernetes.data_stores.postgres_image == accepted
