"""`cryb-db:kubernetes.*`: the applications' side on the EKS cluster (docs/kubernetes.md): the provider, the
consuming applications, and each shard's PgBouncer."""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from components.kubernetes.cache_cluster import DEFAULT_EXPORTER_IMAGE
from components.kubernetes.pgbouncer_ini import MIN_VERSION
from components.kubernetes.pool_sizing import (
    DEFAULT_PROCESSES_PER_POD,
    MAX_PROCESSES_PER_POD,
    PoolBudgetError,
    pool_sizes,
)
from components.postgres import tuning
from components.selfhosted.nvme_instances import nvme_instance_type
from components.selfhosted.patroni_config import tuning_class_for

from .base import Section

if TYPE_CHECKING:
    from .stack import StackConfig

# RDS Proxy may hold this share of a shard's max_connections (components/postgres/component.py sets it on the proxy;
# a program test reads it back from the recorded proxy).
RDS_PROXY_MAX_CONNECTIONS_PERCENT = 80
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
# An image by exact version tag (optionally also by digest), or by digest alone: never a moving tag.
IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*(?::[0-9]+)?/)?[a-z0-9][a-z0-9._/-]*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@sha256:(?P<digest>[0-9a-f]{64}))?$"
)
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
VERSION_TAG = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-_.].*)?$")


def image_version(image: str) -> tuple[int, int] | None:
    """(major, minor) of an image reference's version tag, or None when it has no version tag."""
    match = IMAGE.match(image)
    tag = match.group("tag") if match else None
    version = VERSION_TAG.match(tag) if tag else None
    return (int(version.group(1)), int(version.group(2))) if version else None


class IssuerRef(Section):
    """The cert-manager issuer of the poolers' client-side TLS certificates (the cluster provides it)."""

    name: str = Field(default="cryb-db", min_length=1, description="Issuer or ClusterIssuer name.")
    kind: Literal["Issuer", "ClusterIssuer"] = Field(default="ClusterIssuer", description="Issuer or ClusterIssuer.")


class PgBouncerConfig(Section):
    """Each shard's (and self-hosted cluster's) PgBouncer Deployment."""

    image: str = Field(
        default="ghcr.io/cloudnative-pg/pgbouncer:1.24.1",
        description="PgBouncer image, pinned by exact version tag and/or digest; PgBouncer >= 1.21 "
        "(max_prepared_statements).",
    )
    reloader_image: str = Field(
        default="busybox:1.37.0",
        description="Image of the sidecar that reloads PgBouncer when its secret or certificate changes (POSIX sh, "
        "sha256sum, pkill), pinned by exact version tag or digest.",
    )
    min_replicas: int = Field(default=2, ge=2, le=20, description="Pods at least (HPA minimum); 2+ survive a zone.")
    max_replicas: int = Field(default=4, ge=2, le=50, description="HPA maximum; the pool sizes are divided by it.")
    processes_per_pod: int = Field(
        default=DEFAULT_PROCESSES_PER_POD,
        ge=1,
        le=MAX_PROCESSES_PER_POD,
        description="PgBouncer processes (containers) per pool in each pod, sharing the pool's port with "
        "`so_reuseport` (PgBouncer is single-threaded: one core each); the writer and the reader pool each get this "
        "many. Each process has its own pool, so the pool sizes are divided by it too.",
    )
    target_cpu_percent: int = Field(default=70, ge=20, le=95, description="HPA target CPU utilization.")
    reserved_connections: int = Field(
        default=10,
        ge=0,
        description="Server connections kept free of every pooler for operators (migrations, psql, monitoring), "
        "besides the 3 superuser slots.",
    )
    max_client_connections: int = Field(
        default=5000, ge=100, le=100_000, description="Client connections per PgBouncer process (container)."
    )
    max_prepared_statements: int = Field(
        default=200, ge=0, le=10_000, description="Prepared statements PgBouncer tracks per server connection."
    )
    cpu_request: str = Field(
        default="250m", description="CPU request per PgBouncer container (2 x processesPerPod per pod: writer, reader)."
    )
    cpu_limit: str = Field(default="1", description="CPU limit per container: PgBouncer uses at most one core.")
    memory: str = Field(default="256Mi", description="Memory request and limit per container.")

    @field_validator("image")
    @classmethod
    def _pinned_and_recent(cls, value: str) -> str:
        match = IMAGE.match(value)
        if not match or not (match.group("tag") or match.group("digest")):
            raise ValueError("must name an image by exact version tag (repo:1.24.1) or digest (repo@sha256:...)")
        if match.group("tag") and not match.group("digest") and image_version(value) is None:
            raise ValueError(f"tag {match.group('tag')!r} is not an exact version: pin a version tag or a digest")
        version = image_version(value)
        needed = MIN_VERSION["max_prepared_statements"]
        if version is not None and version < needed:
            raise ValueError(
                f"PgBouncer {version[0]}.{version[1]}: needs >= {needed[0]}.{needed[1]} "
                "(max_prepared_statements, for prepared statements in transaction pooling)"
            )
        return value

    @field_validator("reloader_image")
    @classmethod
    def _reloader_pinned(cls, value: str) -> str:
        match = IMAGE.match(value)
        if not match or not (match.group("digest") or image_version(value)):
            raise ValueError("must name an image by exact version tag (busybox:1.37.0) or digest (repo@sha256:...)")
        return value

    @model_validator(mode="after")
    def _replicas_in_order(self) -> "PgBouncerConfig":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas = {self.max_replicas}: must be >= minReplicas ({self.min_replicas})")
        return self


CNPG_VERSION = "1.30.0"
"""The CloudNativePG release the vendored CRDs (components/kubernetes/crds/) come from."""
CNPG_CHART_VERSION = "0.29.0"
"""The `cloudnative-pg` Helm chart of that release (its appVersion is CNPG_VERSION)."""


# The operand images. CloudNativePG 1.30 backs up and archives WAL with its in-tree Barman Cloud support, which runs
# `barman-cloud-*` inside the PostgreSQL container: only the `system` images carry them (`minimal` and `standard` are
# for the Barman Cloud plugin, not used here). The shards' default is the PostgreSQL 17 entry of the project's signed
# catalog, cloudnative-pg/postgres-containers Debian/ClusterImageCatalog-bookworm.yaml (images.cnpg.io/date 20260817,
# commit a949ae5), tag and digest. The TimescaleDB image is built by clevyr/docker-cloudnativepg-timescale on the
# `system` image 17.5-22; its exact tag scheme `<cnpg version>-ts<timescaledb version>` is read from that project's
# build workflow (commit e5d99f8); no digest is published in a file, so pin yours by digest once pulled.
CNPG_SYSTEM_IMAGE_17 = (
    "ghcr.io/cloudnative-pg/postgresql:17.11-202608170816-system-bookworm"
    "@sha256:d24d5a390d90b20a43ef7036981f5e6c6f78bbd3198a1e2cd99443fbbd14a9b8"
)
TIMESCALEDB_IMAGE = "ghcr.io/clevyr/cloudnativepg-timescale:17.5-22-ts2.19.3"
_WITHOUT_BARMAN_CLOUD = re.compile(r"(^|[-_.])(minimal|standard)([-_.]|$)")


def _with_barman_cloud(value: str) -> str:
    match = IMAGE.match(value)
    tag = match.group("tag") if match else None
    if tag and _WITHOUT_BARMAN_CLOUD.search(tag):
        raise ValueError(
            f"tag {tag!r} is a CloudNativePG minimal/standard image without Barman Cloud: the operator's in-tree "
            "backups and WAL archiving run barman-cloud-* in the PostgreSQL container; use a `system` image "
            "(e.g. 17.11-system-bookworm) or one built on it"
        )
    return value


def _pinned(value: str, example: str) -> str:
    match = IMAGE.match(value)
    if not match or not (match.group("digest") or image_version(value)):
        raise ValueError(f"must name an image by exact version tag ({example}) or digest (repo@sha256:...)")
    return value


class DataStoresConfig(Section):
    """The data stores themselves on the cluster (`postgres.engine`, `selfhosted.engine` or `cache.engine`
    `kubernetes`): CloudNativePG clusters and a Valkey cluster StatefulSet (docs/kubernetes.md#part-b)."""

    namespace: str = Field(default="cryb-db-data", description="Namespace of the data stores (PSS restricted).")
    install_operator: bool = Field(
        default=False,
        description="true: the program installs the CloudNativePG operator (a Helm release of the `cloudnative-pg` "
        f"chart {CNPG_CHART_VERSION}, operator {CNPG_VERSION}); false: the cluster admin provides it.",
    )
    operator_namespace: str = Field(default="cnpg-system", description="Namespace of the operator's Helm release.")
    postgres_image: str = Field(
        default=CNPG_SYSTEM_IMAGE_17,
        description="PostgreSQL operand image of the shards, pinned: a CloudNativePG `system` image (Barman Cloud for "
        "the operator's in-tree backups, pgaudit); the default is PostgreSQL 17 from the project's signed "
        "ClusterImageCatalog (docs/kubernetes.md#images).",
    )
    timescaledb_image: str = Field(
        default=TIMESCALEDB_IMAGE,
        description="Operand image of the TimescaleDB clusters (`selfhosted.clusters` with engine kubernetes), "
        "pinned: a CloudNativePG `system`-based image with the timescaledb extension (docs/kubernetes.md#images).",
    )
    postgres_cpu: int = Field(default=4, ge=1, le=64, description="vCPUs per PostgreSQL instance (request = limit).")
    postgres_memory_mib: int = Field(
        default=32768, ge=1024, le=524288, description="Memory per PostgreSQL instance in MiB (request = limit)."
    )
    postgres_storage_gib: int = Field(default=100, ge=10, le=16384, description="Data volume per instance (GiB).")
    wal_storage_gib: int = Field(default=20, ge=5, le=4096, description="WAL volume per instance (GiB).")
    backup_schedule: str = Field(
        default="0 0 3 * * *",
        pattern=r"^(\S+\s+){5}\S+$",
        description="ScheduledBackup cron (six fields, seconds first, UTC): the daily base backup.",
    )
    pooler_instances: int = Field(default=2, ge=2, le=20, description="PgBouncer pods of each shard's Pooler.")
    cache_image: str = Field(default="valkey/valkey:8.1.4", description="Valkey image of the cache nodes, pinned.")
    cache_cpu: str = Field(default="1", description="CPU request and limit per cache node.")
    cache_memory_mib: int = Field(
        default=8192, ge=512, le=262144, description="Memory per cache node in MiB; maxmemory is 75 % of it."
    )
    cache_storage_gib: int = Field(default=50, ge=5, le=16384, description="AOF volume per cache node (GiB).")
    cache_cli_image: str | None = Field(
        default=None, description="Image of the cluster-forming Job (bash, valkey-cli); default: `cacheImage`."
    )
    exporter_image: str = Field(
        default=DEFAULT_EXPORTER_IMAGE,
        description="redis_exporter image of every cache node's metrics sidecar, pinned (docs/kubernetes.md#alerts).",
    )
    prometheus_namespace: str = Field(
        default="monitoring",
        description="Namespace of the cluster's Prometheus (prometheus-operator): the NetworkPolicies let it scrape "
        "the PostgreSQL and cache exporters.",
    )
    prometheus_selector_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels put on every PrometheusRule and PodMonitor so that the cluster's Prometheus selects "
        "them (its ruleSelector and podMonitorSelector; kube-prometheus-stack: `{release: <its release name>}`).",
    )

    @field_validator("postgres_image", "timescaledb_image", "cache_image", "cache_cli_image", "exporter_image")
    @classmethod
    def _images_pinned(cls, value: str | None) -> str | None:
        return None if value is None else _pinned(value, "repo:1.2.3")

    @field_validator("prometheus_selector_labels")
    @classmethod
    def _label_pairs(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k, v in value.items() if not LABEL_KEY.match(k) or not LABEL_VALUE.match(v))
        if bad:
            raise ValueError(f"{bad}: not Kubernetes label keys with label values (63 letters, digits, '-_.')")
        return value

    @field_validator("postgres_image", "timescaledb_image")
    @classmethod
    def _carries_barman_cloud(cls, value: str) -> str:
        return _with_barman_cloud(value)

    @field_validator("namespace", "operator_namespace", "prometheus_namespace")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError(f"{value!r}: must be a DNS label: lowercase letters, digits and '-', at most 40")
        return value


class ApplicationConfig(Section):
    """One application that consumes the platform from the cluster."""

    name: str = Field(description="Application name (a DNS label); its namespace unless `namespace` is set.")
    namespace: str | None = Field(default=None, description="Its namespace (default: the name).")
    postgres: bool = Field(default=True, description="Whether it reads the shards' credentials.")
    cache_user: Literal["app", "reader", "none"] = Field(
        default="app", description="Which cache ACL user's secret it reads: app, reader or none."
    )
    selfhosted_clusters: list[str] = Field(
        default_factory=list,
        description="Self-hosted clusters (cryb-db:selfhosted.clusters) whose credentials it reads.",
    )

    @field_validator("name", "namespace")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is not None and not DNS_LABEL.match(value):
            raise ValueError(f"{value!r}: must be a DNS label: lowercase letters, digits and '-', at most 40")
        return value

    @property
    def namespace_name(self) -> str:
        return self.namespace or self.name


class KubernetesConfig(Section):
    """The applications' side on an existing EKS cluster (not declared by this project)."""

    enabled: bool = Field(default=False, description="Declare the Kubernetes side (needs a cluster to talk to).")
    version: str = Field(
        default="1.33",
        pattern=r"^1\.(29|3[0-7])$",
        description="Kubernetes minor version of the cluster (1.29-1.37; PgBouncer's reloader is a native sidecar): "
        "the Pod Security version and the schema "
        "the objects are validated against.",
    )
    context: str | None = Field(default=None, description="kubeconfig context to use (or `kubeconfig`).")
    kubeconfig: SecretStr | None = Field(
        default=None,
        description="A kubeconfig, as a Pulumi secret (`pulumi config set --secret`), instead of a context.",
    )
    authentication: Literal["irsa", "pod-identity"] = Field(
        default="irsa",
        description="How External Secrets gets AWS credentials: irsa (a role per namespace trusting the cluster's "
        "OIDC provider) or pod-identity (the controller's EKS Pod Identity role assumes the namespace's role).",
    )
    oidc_provider_arn: str | None = Field(default=None, description="The cluster's IAM OIDC provider ARN (irsa).")
    controller_role_arn: str | None = Field(
        default=None, description="The External Secrets controller's Pod Identity role ARN (pod-identity)."
    )
    pooler_namespace: str = Field(default="cryb-db-pooler", description="Namespace of the PgBouncer Deployments.")
    server_ca_config_map: str = Field(
        default="cryb-db-server-ca",
        description="ConfigMap (key `ca.pem`) with the CA of the servers' certificates (the RDS global bundle), "
        "distributed by the cluster into the pooler namespace (docs/kubernetes.md).",
    )
    tls_issuer: IssuerRef = Field(default_factory=lambda: IssuerRef(), description="cert-manager issuer.")
    pgbouncer: PgBouncerConfig = Field(default_factory=lambda: PgBouncerConfig(), description="PgBouncer.")
    applications: list[ApplicationConfig] = Field(default_factory=list, description="Consuming applications.")
    data_stores: DataStoresConfig = Field(
        default_factory=lambda: DataStoresConfig(),
        description="The data stores on the cluster with engine `kubernetes` (CloudNativePG, the cache StatefulSet).",
    )

    @model_validator(mode="after")
    def _complete(self) -> "KubernetesConfig":
        if not self.enabled:
            return self
        problems = []
        if self.context and self.kubeconfig:
            problems.append("set context or kubeconfig, not both")
        if not self.context and not self.kubeconfig:
            problems.append("enabled: needs context or kubeconfig")
        if self.authentication == "irsa" and not (self.oidc_provider_arn or "").startswith("arn:aws:iam::"):
            problems.append(
                f"oidcProviderArn = {self.oidc_provider_arn!r}: irsa needs the cluster's IAM OIDC provider "
                "ARN (arn:aws:iam::<account>:oidc-provider/<issuer>)"
            )
        elif self.authentication == "irsa" and ":oidc-provider/" not in (self.oidc_provider_arn or ""):
            problems.append(f"oidcProviderArn = {self.oidc_provider_arn!r}: not an OIDC provider ARN")
        if self.authentication == "pod-identity" and not (self.controller_role_arn or "").startswith("arn:aws:iam::"):
            problems.append(
                f"controllerRoleArn = {self.controller_role_arn!r}: pod-identity needs the External "
                "Secrets controller's role ARN"
            )
        namespaces = [app.namespace_name for app in self.applications]
        reserved = (self.pooler_namespace, self.data_stores.namespace)
        clashes = sorted({n for n in namespaces if namespaces.count(n) > 1 or n in reserved})
        if clashes:
            problems.append(f"applications: namespaces {clashes} are used twice (or are the pooler or data namespace)")
        if not DNS_LABEL.match(self.pooler_namespace):
            problems.append(f"poolerNamespace = {self.pooler_namespace!r}: must be a DNS label")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class PoolerTarget:
    """A server PgBouncer pools for: a shard or a self-hosted cluster, with its connection budget."""

    name: str
    """`shard<N>` or the cluster's name: the Deployment is `pgbouncer-<name>`."""
    max_connections: int
    other_poolers: int
    has_readers: bool
    """False: the reader pool goes to the writer too, so the writer's budget is shared by both pools of a pod."""

    def pools_per_server(self, max_replicas: int) -> int:
        """The pods' pools that may hold connections to one server with every pod running (each pool is served by
        processesPerPod PgBouncer processes, which `pool_sizes` divides by too)."""
        return max_replicas * (1 if self.has_readers else 2)


def pooler_targets(config: "StackConfig") -> list[PoolerTarget]:
    """Every shard (RDS or Patroni) and self-hosted cluster, with what its server allows."""
    pg, sh = config.postgres, config.selfhosted

    def patroni_max(instance_type: str) -> int:
        return tuning.max_connections(tuning.instance_class(tuning_class_for(nvme_instance_type(instance_type))))

    targets: list[PoolerTarget] = []
    if pg.engine == "rds":
        shard_max = tuning.max_connections(tuning.instance_class(pg.instance_class))
        proxy = shard_max * RDS_PROXY_MAX_CONNECTIONS_PERCENT // 100
        readers = pg.topology == "cluster" or pg.read_replicas > 0
        targets = [PoolerTarget(f"shard{i}", shard_max, proxy, readers) for i in range(pg.shard_count)]
    elif pg.engine == "ec2":
        shard_max, readers = patroni_max(pg.ec2.instance_type), pg.ec2.node_count > 1
        targets = [PoolerTarget(f"shard{i}", shard_max, 0, readers) for i in range(pg.shard_count)]
    if sh.engine == "ec2":  # CloudNativePG clusters (engine kubernetes) bring their own Pooler
        targets += [
            PoolerTarget(name, patroni_max(c.instance_type), 0, c.node_count > 1) for name, c in sh.clusters.items()
        ]
    return targets


def kubernetes_problems(config: "StackConfig") -> list[str]:
    """Rules with other sections: the clusters applications name exist, and every pooler fits its server."""
    k = config.kubernetes
    on_kubernetes = [
        f"cryb-db:{key}.engine"
        for key, engine in (
            ("postgres", config.postgres.engine),
            ("cache", config.cache.engine),
            ("selfhosted", config.selfhosted.engine if config.selfhosted.clusters else "ec2"),
        )
        if engine == "kubernetes"
    ]
    if not k.enabled:
        return [
            f"{key} = 'kubernetes': needs cryb-db:kubernetes.enabled = true (the cluster the data stores run on)"
            for key in on_kubernetes
        ]
    problems = [
        f"{key} = 'kubernetes': needs cryb-db:kubernetes.authentication = 'irsa', not {k.authentication!r} "
        "(barman-cloud reaches S3 as each cluster's service account through IRSA)"
        for key in on_kubernetes[:1]
        if k.authentication != "irsa"
    ]
    problems += [
        f"cryb-db:kubernetes.applications[{i}].selfhostedClusters: {name!r} is not in cryb-db:selfhosted.clusters "
        f"({sorted(config.selfhosted.clusters)})"
        for i, app in enumerate(k.applications)
        for name in app.selfhosted_clusters
        if name not in config.selfhosted.clusters
    ]
    if config.cache.engine == "kubernetes" and config.cache.engine_flavor != "valkey":
        problems.append("cryb-db:cache.engineFlavor = 'redis': the kubernetes engine runs Valkey (cacheImage)")
    for target in pooler_targets(config):
        try:
            pool_sizes(
                max_connections=target.max_connections,
                reserved_connections=k.pgbouncer.reserved_connections,
                max_replicas=target.pools_per_server(k.pgbouncer.max_replicas),
                processes_per_pod=k.pgbouncer.processes_per_pod,
                other_poolers=target.other_poolers,
            )
        except PoolBudgetError as error:
            problems.append(f"cryb-db:kubernetes.pgbouncer (pooler of {target.name}): {error}")
    return problems
