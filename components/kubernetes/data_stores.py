"""The data stores on the EKS cluster (`engine: kubernetes`, docs/kubernetes.md#part-b-the-data-stores-on-the-cluster):
PostgreSQL clusters through CloudNativePG and the cache as a Valkey cluster StatefulSet, in one PSS-restricted
namespace, their credentials from Secrets Manager through External Secrets. The manifests come from `cnpg.py` and
`cache_cluster.py`; AWS-side: the owners' secrets, one backup role per cluster (IRSA, its own bucket prefix)."""

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.backups.policies import writer_role_policy
from components.cache.cluster_plan import ClusterPlan

from . import alert_rules, cache_cluster, cnpg, iam_documents, manifests
from .component import SecretsIdentityArgs, _declare_identity
from .objects import HelmRelease, KubernetesObject

CNPG_CHART_REPOSITORY = "https://cloudnative-pg.github.io/charts"
PASSWORD_LENGTH = 40
SECRET_RECOVERY_DAYS = 30


class PostgresClusterArgs(TypedDict):
    """One CloudNativePG cluster."""

    name: str
    """`shard<N>` or the self-hosted cluster's name."""
    instances: int
    """Instances (one primary, the rest standbys in other zones)."""
    image: str
    """Operand image, pinned."""
    timescaledb: bool
    """Preload and create TimescaleDB (the image must carry it)."""
    database: str
    """Database created at bootstrap."""
    owner: str
    """Its owner, whose credentials live in Secrets Manager."""
    backup_retention_days: int
    """barman-cloud retention (days of base backups and the WAL they need)."""


class PostgresSettingsArgs(TypedDict):
    """What every CloudNativePG cluster shares (cryb-db:kubernetes.dataStores)."""

    cpu: int
    """vCPUs per instance: the tuning's size."""
    memory_mib: int
    """Memory per instance: the tuning's size."""
    storage_gib: int
    """Data volume per instance."""
    wal_storage_gib: int
    """WAL volume per instance."""
    backup_schedule: str
    """ScheduledBackup cron (six fields)."""
    pooler_instances: int
    """PgBouncer pods per Pooler."""
    reserved_connections: int
    """Server connections no pooler may take."""
    max_client_connections: int
    """Client connections per PgBouncer pod."""
    max_prepared_statements: int
    """Prepared statements PgBouncer tracks per server connection."""


class CacheClusterArgs(TypedDict):
    """The Valkey cluster StatefulSet."""

    plan: ClusterPlan
    """Masters and replicas (components/cache/cluster_plan.py)."""
    image: str
    """Valkey image, pinned."""
    cli_image: str
    """Image of the cluster-forming Job (bash, valkey-cli)."""
    port: int
    """Client port (TLS)."""
    cluster_port: int
    """Cluster bus port."""
    cpu: str
    """CPU request and limit per node."""
    memory_mib: int
    """Memory per node (maxmemory is 75 % of it)."""
    storage_gib: int
    """AOF volume per node."""
    maxmemory_policy: str
    """Eviction policy."""
    secret_arns: Mapping[str, pulumi.Input[str]]
    """The ACL users' secrets (app, reader, admin, replicator), made by components/cache."""
    exporter_image: str
    """redis_exporter, every node's metrics sidecar, pinned."""


class AlertingArgs(TypedDict):
    """Alerts of the stores (PrometheusRule) and their scraping (PodMonitor), for the cluster's prometheus-operator."""

    thresholds: alert_rules.AlertThresholds
    """From cryb-db:monitoring: the same keys as the CloudWatch alarms."""
    prometheus_namespace: str
    """Where the cluster's Prometheus runs (the NetworkPolicies let it reach the exporters)."""
    selector_labels: Mapping[str, str]
    """Labels the cluster's Prometheus selects PrometheusRules and PodMonitors by (ruleSelector,
    podMonitorSelector)."""


class DataStoresArgs(TypedDict):
    """The data namespace and what runs in it."""

    namespace: str
    """The data namespace (created here, PSS restricted)."""
    kubernetes_version: str
    """The cluster's minor version."""
    install_operator: bool
    """Install the CloudNativePG operator (Helm) or expect it."""
    operator_namespace: str
    """The operator's namespace (its pods reach the instances' status port)."""
    operator_chart_version: str
    """The `cloudnative-pg` chart version, pinned."""
    clusters: Sequence[PostgresClusterArgs]
    """Shards first, then the self-hosted clusters."""
    postgres: PostgresSettingsArgs
    """Shared PostgreSQL settings."""
    cache: CacheClusterArgs | None
    """The cache StatefulSet, or None."""
    alerting: AlertingArgs
    """Alerts and scraping of every store."""
    identity: SecretsIdentityArgs
    """How the namespace's secrets store authenticates (irsa)."""
    issuer_name: str
    """cert-manager issuer of the cache's certificate."""
    issuer_kind: str
    """Issuer or ClusterIssuer."""
    data_kms_key_arn: pulumi.Input[str]
    """The StorageClass encrypts volumes with it."""
    backup_bucket_name: pulumi.Input[str]
    """barman-cloud's bucket."""
    backup_bucket_arn: pulumi.Input[str]
    """Its ARN (the backup roles' policies)."""
    backup_kms_key_arn: pulumi.Input[str]
    """The bucket's key (uploads must name it)."""
    secrets_kms_key_arn: pulumi.Input[str]
    """The owners' secrets are encrypted with it."""
    region: str
    """Region of the bucket and secrets."""
    tags: Mapping[str, str]
    """Tags of the AWS resources."""


def backup_prefix(cluster: str) -> str:
    """Each CloudNativePG cluster writes under its own prefix of the backup bucket."""
    return f"cnpg-{cluster}"


class DataStores(pulumi.ComponentResource):
    """PostgreSQL (CloudNativePG) and the cache (Valkey StatefulSet) on the EKS cluster."""

    shard_entries: list[dict[str, Any]]
    """The clusters in the shard contract of docs/outputs.md, in the order of `clusters`."""
    secret_arns: dict[str, pulumi.Output[str]]
    """Cluster name -> its owner's Secrets Manager secret."""
    cache_nodes: list[dict[str, Any]]
    """The cache nodes: plan name, the zone the plan meant (the scheduler spreads pods over zones, but picks which
    pod goes where), address: the pod's DNS name."""
    cache_endpoint: str | None
    """The cache's client Service (cluster discovery), or None."""

    def __init__(self, name: str, args: DataStoresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:kubernetes:DataStores", name, None, opts)
        self._name, self._args = name, args
        ns = args["namespace"]
        namespace = KubernetesObject(
            f"{name}-namespace",
            manifests.namespace(ns, kubernetes_version=args["kubernetes_version"], client=False),
            pulumi.ResourceOptions(parent=self),
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        policies = manifests.network_policies(ns, egress=[])  # default deny, DNS for every pod
        if args["clusters"]:
            policies += cnpg.network_policies(ns, args["operator_namespace"], args["alerting"]["prometheus_namespace"])
        self.secret_arns = {c["name"]: self._owner_secret(c).arn for c in args["clusters"]}
        cache = args["cache"]
        secret_arns: list[pulumi.Input[str]] = list(self.secret_arns.values())
        workload = self._cache_workload(cache) if cache is not None else None
        if cache is not None and workload is not None:
            policies += [cache_cluster.network_policy(workload), cache_cluster.job_network_policy(workload)]
            secret_arns += [cache["secret_arns"][user] for user in sorted(cache["secret_arns"])]
        for policy in policies:
            KubernetesObject(f"{name}-{policy['metadata']['name']}", policy, inside)
        storage = KubernetesObject(
            f"{name}-storage-class",
            cache_cluster.storage_class(args["data_kms_key_arn"]),
            pulumi.ResourceOptions(parent=self),
        )
        self._stores = [*_declare_identity(self, name, ns, secret_arns, args["identity"], args["tags"], [namespace])]
        operator: list[pulumi.Resource] = []
        if args["install_operator"] and args["clusters"]:
            operator.append(
                HelmRelease(
                    f"{name}-cnpg-operator",
                    {
                        "name": "cnpg",
                        "chart": "cloudnative-pg",
                        "version": args["operator_chart_version"],
                        "repositoryOpts": {"repo": CNPG_CHART_REPOSITORY},
                        "namespace": args["operator_namespace"],
                        "createNamespace": True,
                        "atomic": True,
                        "values": cnpg.operator_release_values(),
                    },
                    pulumi.ResourceOptions(parent=self),
                )
            )
        self._after = [namespace, storage, *operator]
        self.shard_entries = [self._postgres(c) for c in args["clusters"]]
        self.cache_nodes, self.cache_endpoint = [], None
        if cache is not None and workload is not None:
            self.cache_endpoint = cache_cluster.client_host(ns)
            self._cache(cache, workload)
        self.register_outputs({"secretArns": self.secret_arns, "cacheNodes": self.cache_nodes})

    # -- PostgreSQL ---------------------------------------------------------------------------------------------
    def _owner_secret(self, c: PostgresClusterArgs) -> aws.secretsmanager.Secret:
        a, n = self._args, f"{self._name}-{c['name']}"
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{n}-owner-password", length=PASSWORD_LENGTH, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            f"{n}-owner",
            name_prefix=f"cryb-db/{n}/owner-",
            description=f"cryb-db {n}: the CloudNativePG cluster owner `{c['owner']}`",
            kms_key_id=a["secrets_kms_key_arn"],
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags={**a["tags"], "Name": f"{n}-owner"},
            opts=child,
        )
        value = {"username": c["owner"], "password": password.result, "dbname": c["database"], "port": cnpg.PORT}
        aws.secretsmanager.SecretVersion(
            f"{n}-owner-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(pulumi.Output.json_dumps(value)),
            opts=child,
        )
        return secret

    def _backup_role(self, c: PostgresClusterArgs) -> aws.iam.Role:
        """barman-cloud's identity: only the cluster's service account (named after it) may assume it, and it may
        read and write only the cluster's prefix, encrypting with the bucket key through S3."""
        a, n = self._args, f"{self._name}-{c['name']}"
        oidc = a["identity"]["oidc_provider_arn"]
        assert oidc is not None  # the config requires irsa with engine kubernetes
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{n}-backup-role",
            assume_role_policy=iam_documents.irsa_trust(oidc, a["namespace"], c["name"]),
            description=f"barman-cloud of CloudNativePG cluster {c['name']}: its backup prefix only",
            max_session_duration=3600,
            tags={**a["tags"], "Name": f"{n}-backup-role"},
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{n}-backup-prefix",
            role=role.id,
            policy=pulumi.Output.all(a["backup_bucket_arn"], a["backup_kms_key_arn"]).apply(
                lambda v: json.dumps(
                    writer_role_policy(
                        bucket_arn=v[0], prefix=backup_prefix(c["name"]), kms_key_arn=v[1], region=a["region"]
                    )
                )
            ),
            opts=child,
        )
        return role

    def _postgres(self, c: PostgresClusterArgs) -> dict[str, Any]:
        a, p, n = self._args, self._args["postgres"], f"{self._name}-{c['name']}"
        role = self._backup_role(c)
        prefix = backup_prefix(c["name"])
        spec = cnpg.ClusterSpec(
            name=c["name"],
            namespace=a["namespace"],
            instances=c["instances"],
            image=c["image"],
            cpu=p["cpu"],
            memory_mib=p["memory_mib"],
            storage_gib=p["storage_gib"],
            wal_storage_gib=p["wal_storage_gib"],
            storage_class=cache_cluster.STORAGE_CLASS,
            database=c["database"],
            owner=c["owner"],
            timescaledb=c["timescaledb"],
            backup_retention_days=c["backup_retention_days"],
            backup_schedule=p["backup_schedule"],
            backup_destination=pulumi.Output.concat("s3://", a["backup_bucket_name"], f"/{prefix}/"),
            backup_prefix=prefix,
            sse_kms_argument=pulumi.Output.concat("--sse-kms-key-id=", a["backup_kms_key_arn"]),
            role_arn=role.arn,
            pooler_instances=p["pooler_instances"],
            reserved_connections=p["reserved_connections"],
            max_client_connections=p["max_client_connections"],
            max_prepared_statements=p["max_prepared_statements"],
        )
        owner = KubernetesObject(
            f"{n}-owner-secret",
            cnpg.owner_external_secret(spec, self.secret_arns[c["name"]]),
            pulumi.ResourceOptions(parent=self, depends_on=self._stores),
        )
        cluster = KubernetesObject(
            f"{n}-cluster", cnpg.cluster(spec), pulumi.ResourceOptions(parent=self, depends_on=[*self._after, owner])
        )
        after_cluster = pulumi.ResourceOptions(parent=self, depends_on=[cluster])
        KubernetesObject(f"{n}-scheduled-backup", cnpg.scheduled_backup(spec), after_cluster)
        KubernetesObject(f"{n}-pooler", cnpg.pooler(spec), after_cluster)
        KubernetesObject(f"{n}-pooler-pdb", cnpg.pooler_pdb(spec), after_cluster)
        alerting = a["alerting"]
        selector_labels = dict(alerting["selector_labels"])
        KubernetesObject(f"{n}-pod-monitor", cnpg.pod_monitor(spec, selector_labels), after_cluster)
        rules = alert_rules.postgres_rules(
            c["name"], a["namespace"], c["instances"], p["backup_schedule"], alerting["thresholds"]
        )
        KubernetesObject(
            f"{n}-alerts", alert_rules.prometheus_rule(c["name"], a["namespace"], rules, selector_labels), after_cluster
        )
        self._specs = getattr(self, "_specs", {}) | {c["name"]: spec}
        return cnpg.shard_outputs(spec, 0, self.secret_arns[c["name"]], a["region"])

    def spec(self, cluster: str) -> cnpg.ClusterSpec:
        return self._specs[cluster]

    # -- cache --------------------------------------------------------------------------------------------------
    def _cache_workload(self, c: CacheClusterArgs) -> cache_cluster.CacheWorkload:
        a = self._args
        return cache_cluster.CacheWorkload(
            namespace=a["namespace"],
            image=c["image"],
            cli_image=c["cli_image"],
            nodes=len(c["plan"].nodes),
            port=c["port"],
            cluster_port=c["cluster_port"],
            cpu=c["cpu"],
            memory_mib=c["memory_mib"],
            storage_gib=c["storage_gib"],
            issuer_name=a["issuer_name"],
            issuer_kind=a["issuer_kind"],
            exporter_image=c["exporter_image"],
            prometheus_namespace=a["alerting"]["prometheus_namespace"],
        )

    def _cache(self, c: CacheClusterArgs, w: cache_cluster.CacheWorkload) -> None:
        n, ns = f"{self._name}-cache", self._args["namespace"]
        inside = pulumi.ResourceOptions(parent=self, depends_on=self._after)
        files = cache_cluster.config_files(
            c["plan"], ns, c["port"], c["cluster_port"], c["memory_mib"], c["maxmemory_policy"]
        )
        digest = hashlib.sha256("".join(files[k] for k in sorted(files)).encode()).hexdigest()
        conf = KubernetesObject(
            f"{n}-config", manifests.config_map(cache_cluster.CONFIG_MAP, ns, files, "cache"), inside
        )
        users = KubernetesObject(
            f"{n}-users",
            cache_cluster.users_external_secret(ns, dict(c["secret_arns"])),
            pulumi.ResourceOptions(parent=self, depends_on=self._stores),
        )
        tls = KubernetesObject(f"{n}-tls", cache_cluster.certificate(w), inside)
        for service in cache_cluster.services(w):
            KubernetesObject(f"{n}-service-{service['metadata']['name']}", service, inside)
        nodes = KubernetesObject(
            f"{n}-statefulset",
            cache_cluster.statefulset(w, digest),
            pulumi.ResourceOptions(parent=self, depends_on=[*self._after, conf, users, tls]),
        )
        KubernetesObject(f"{n}-pdb", cache_cluster.pdb(w), inside)
        KubernetesObject(
            f"{n}-form-cluster", cache_cluster.form_job(w), pulumi.ResourceOptions(parent=self, depends_on=[nodes])
        )
        alerting = self._args["alerting"]
        selector_labels = dict(alerting["selector_labels"])
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=[nodes])
        KubernetesObject(f"{n}-pod-monitor", cache_cluster.pod_monitor(w, selector_labels), after_nodes)
        rules = alert_rules.cache_rules(ns, cache_cluster.NAME, len(c["plan"].nodes), alerting["thresholds"])
        KubernetesObject(
            f"{n}-alerts", alert_rules.prometheus_rule(cache_cluster.NAME, ns, rules, selector_labels), after_nodes
        )
        self.cache_nodes = [
            {"name": node.name, "availabilityZone": node.az, "address": cache_cluster.pod_host(node.index, ns)}
            for node in c["plan"].nodes
        ]
