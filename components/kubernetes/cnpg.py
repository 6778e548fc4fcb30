"""PostgreSQL through CloudNativePG (`cryb-db:postgres.engine` / `selfhosted.engine: kubernetes`), as plain dicts.

Pure. Per cluster: a `Cluster` (synchronous replication, zone anti-affinity, TLS only, the tuning of
components/postgres/tuning.py for the pod's CPU and memory, WAL archiving and base backups to the backup bucket with
barman-cloud as the cluster's service account through IRSA), a `ScheduledBackup`, a `Pooler` (PgBouncer, transaction
pooling, pool sizes from pool_sizing.py) with its PodDisruptionBudget, and the ExternalSecret of the owner's
credentials. Validated against the CRDs of CloudNativePG (crds/VERSIONS.md) by tests/components/kubernetes.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.postgres import tuning

from . import alert_rules
from .manifests import CLIENT_LABEL, EXTERNAL_SECRETS_API, SECRET_STORE, labels, metadata
from .pool_sizing import pool_sizes

API = "postgresql.cnpg.io/v1"
PORT = 5432  # CloudNativePG serves on 5432 (a mandatory setting); so do its Services and Poolers
METRICS_PORT = 9187  # every instance's exporter, the container port named `metrics`
CLUSTER_LABEL = "cnpg.io/cluster"
POOLER_LABEL = "cnpg.io/poolerName"
# RDS-only parameters (their CloudNativePG equivalents are built in: ssl on and hostnossl rejected; wal_level logical).
RDS_ONLY = ("rds.force_ssl", "rds.logical_replication")
# Parameters CloudNativePG owns (pkg/postgres/configuration.go FixedConfigurationParameters): set in the spec.
OPERATOR_OWNED = ("shared_preload_libraries",)
PG_HBA = (
    "hostnossl all all 0.0.0.0/0 reject",
    "hostnossl all all ::/0 reject",
    "hostssl all all 0.0.0.0/0 scram-sha-256",
    "hostssl all all ::/0 scram-sha-256",
)


@dataclass(frozen=True)
class ClusterSpec:
    """One CloudNativePG cluster: a shard or a self-hosted cluster."""

    name: str
    """The Cluster (and its service account, Services `<name>-rw/-ro/-r`, Pooler `<name>-pooler-rw`)."""
    namespace: str
    instances: int
    image: str
    cpu: int
    memory_mib: int
    storage_gib: int
    wal_storage_gib: int
    storage_class: str
    database: str
    owner: str
    timescaledb: bool
    backup_retention_days: int
    backup_schedule: str
    backup_destination: Any
    """`s3://<bucket>/<prefix>/` (a Pulumi output in the program)."""
    backup_prefix: str
    sse_kms_argument: Any
    """`--sse-kms-key-id=<the bucket key ARN>`: the bucket refuses uploads that do not name its key."""
    role_arn: Any
    pooler_instances: int
    reserved_connections: int
    max_client_connections: int
    max_prepared_statements: int

    @property
    def credentials_secret(self) -> str:
        return f"{self.name}-owner"

    @property
    def pooler(self) -> str:
        return f"{self.name}-pooler-rw"

    def host(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.cluster.local"

    @property
    def machine(self) -> tuning.InstanceClass:
        return tuning.machine_size(f"k8s-{self.cpu}cpu-{self.memory_mib}mib", self.cpu, self.memory_mib)


def postgres_parameters(spec: ClusterSpec) -> tuple[dict[str, str], list[str]]:
    """(parameters, shared_preload_libraries): the same tuning function as RDS and Patroni, for the pod's size."""
    values = {p.name: p.value for p in tuning.parameters_for(spec.machine) if p.name not in RDS_ONLY}
    # The tuning gives 8 kB pages; the operator's webhook reads a bare shared_buffers as MB and refuses a Cluster whose
    # memory request is below it (internal/webhook/v1/cluster_webhook.go, parsePostgresQuantityValue): say kB.
    values["shared_buffers"] = f"{int(values['shared_buffers']) * tuning.PAGE_KIB}kB"
    preload = [lib for lib in values.pop("shared_preload_libraries", "").split(",") if lib]
    if spec.timescaledb:
        preload = ["timescaledb", *preload]
        values["timescaledb.telemetry_level"] = "off"
    assert not set(values) & set(OPERATOR_OWNED)
    return values, preload


def max_connections(spec: ClusterSpec) -> int:
    return tuning.max_connections(spec.machine)


def cluster(spec: ClusterSpec) -> dict[str, Any]:
    params, preload = postgres_parameters(spec)
    resources = {"cpu": str(spec.cpu), "memory": f"{spec.memory_mib}Mi"}
    initdb: dict[str, Any] = {
        "database": spec.database,
        "owner": spec.owner,
        "secret": {"name": spec.credentials_secret},
        "dataChecksums": True,
    }
    if spec.timescaledb:
        initdb["postInitApplicationSQL"] = ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
    sse = [spec.sse_kms_argument]
    wal = {"compression": "gzip", "encryption": "aws:kms", "maxParallel": 4, "archiveAdditionalCommandArgs": sse}
    data = {"compression": "gzip", "encryption": "aws:kms", "jobs": 2, "additionalCommandArgs": sse}
    return {
        "apiVersion": API,
        "kind": "Cluster",
        "metadata": metadata(spec.name, spec.namespace, labels=labels("postgres", spec.name)),
        "spec": {
            "description": f"cryb-db {spec.name}",
            "instances": spec.instances,
            "imageName": spec.image,
            "primaryUpdateStrategy": "unsupervised",
            "primaryUpdateMethod": "switchover",
            "enableSuperuserAccess": False,
            "enablePDB": True,
            "postgresql": {
                "parameters": params,
                "shared_preload_libraries": preload,
                "pg_hba": list(PG_HBA),
                # Every commit waits for one standby (RPO 0); with none left, writes wait rather than risk loss.
                "synchronous": {"method": "any", "number": 1, "dataDurability": "required"},
            },
            "bootstrap": {"initdb": initdb},
            "storage": {"size": f"{spec.storage_gib}Gi", "storageClass": spec.storage_class},
            "walStorage": {"size": f"{spec.wal_storage_gib}Gi", "storageClass": spec.storage_class},
            "resources": {"requests": resources, "limits": resources},
            "affinity": {
                "enablePodAntiAffinity": True,
                "topologyKey": "topology.kubernetes.io/zone",
                "podAntiAffinityType": "required",
            },
            # barman-cloud runs as the cluster's service account: IRSA gives it the backup role.
            "serviceAccountTemplate": {"metadata": {"annotations": {"eks.amazonaws.com/role-arn": spec.role_arn}}},
            "backup": {
                "retentionPolicy": f"{spec.backup_retention_days}d",
                "target": "prefer-standby",
                "barmanObjectStore": {
                    "destinationPath": spec.backup_destination,
                    "s3Credentials": {"inheritFromIAMRole": True},
                    "wal": wal,
                    "data": data,
                },
            },
            # The exporter serves over TLS with the server certificate (the PodMonitor verifies it with the CA).
            "monitoring": {"tls": {"enabled": True}},
            "inheritedMetadata": {"labels": labels("postgres", spec.name)},
        },
    }


def pod_monitor(spec: ClusterSpec, selector_labels: dict[str, str]) -> dict[str, Any]:
    """Prometheus scrapes every instance's exporter over TLS (CloudNativePG 1.30 deprecates the operator-made
    PodMonitor, `spec.monitoring.enablePodMonitor`: docs/src/monitoring.md recommends one per cluster made by hand),
    verifying it against the cluster's CA as `<cluster>-rw`, a name of the operator's server certificate."""
    tls = {"ca": {"secret": {"name": f"{spec.name}-ca", "key": "ca.crt"}}, "serverName": f"{spec.name}-rw"}
    selector = {CLUSTER_LABEL: spec.name, "cnpg.io/podRole": "instance"}
    return alert_rules.pod_monitor(spec.name, spec.namespace, selector, "metrics", tls, selector_labels)


def scheduled_backup(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ScheduledBackup",
        "metadata": metadata(f"{spec.name}-daily", spec.namespace, labels=labels("postgres", spec.name)),
        "spec": {
            "schedule": spec.backup_schedule,
            "cluster": {"name": spec.name},
            "method": "barmanObjectStore",
            "backupOwnerReference": "self",
            "immediate": True,
            "target": "prefer-standby",
        },
    }


def pooler(spec: ClusterSpec) -> dict[str, Any]:
    """PgBouncer in front of the primary: transaction pooling with prepared statements, every pod at full pools
    under max_connections (pool_sizing.py), spread over zones."""
    sizes = pool_sizes(
        max_connections=max_connections(spec),
        reserved_connections=spec.reserved_connections,
        max_replicas=spec.pooler_instances,
        max_client_conn=spec.max_client_connections,
    )
    selector = {POOLER_LABEL: spec.pooler}
    resources = {"cpu": "1", "memory": "256Mi"}
    return {
        "apiVersion": API,
        "kind": "Pooler",
        "metadata": metadata(spec.pooler, spec.namespace, labels=labels("pooler", spec.name)),
        "spec": {
            "cluster": {"name": spec.name},
            "instances": spec.pooler_instances,
            "type": "rw",
            "pgbouncer": {
                "poolMode": "transaction",
                "parameters": {
                    "max_client_conn": str(sizes.max_client_conn),
                    "default_pool_size": str(sizes.default_pool_size),
                    "reserve_pool_size": str(sizes.reserve_pool_size),
                    "max_db_connections": str(sizes.max_db_connections),
                    "max_prepared_statements": str(spec.max_prepared_statements),
                    "server_tls_sslmode": "verify-full",
                },
            },
            "template": {
                "metadata": {"labels": {**labels("pooler", spec.name), **selector}},
                "spec": {
                    "containers": [
                        {
                            "name": "pgbouncer",
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": resources},
                        }
                    ],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": selector},
                        }
                    ],
                },
            },
        },
    }


def pooler_pdb(spec: ClusterSpec) -> dict[str, Any]:
    """The operator makes the instances' PDBs (enablePDB) but none for a Pooler's Deployment."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec.pooler, spec.namespace, labels=labels("pooler", spec.name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {POOLER_LABEL: spec.pooler}}},
    }


def owner_external_secret(spec: ClusterSpec, secret_arn: Any) -> dict[str, Any]:
    """The owner's credentials (a basic-auth Secret, what initdb and the operator read) from Secrets Manager."""
    return {
        "apiVersion": EXTERNAL_SECRETS_API,
        "kind": "ExternalSecret",
        "metadata": metadata(spec.credentials_secret, spec.namespace, labels=labels("secrets")),
        "spec": {
            "refreshInterval": "5m",
            "secretStoreRef": {"name": SECRET_STORE, "kind": "SecretStore"},
            "target": {
                "name": spec.credentials_secret,
                "creationPolicy": "Owner",
                "deletionPolicy": "Retain",  # the cluster needs it for as long as it lives
                "template": {
                    "type": "kubernetes.io/basic-auth",
                    "engineVersion": "v2",
                    "data": {"username": "{{ .username }}", "password": "{{ .password }}"},
                },
            },
            "dataFrom": [{"extract": {"key": secret_arn}}],
        },
    }


def network_policies(namespace: str, operator_namespace: str, prometheus_namespace: str) -> list[dict[str, Any]]:
    """Instances: each other (replication), their Poolers, the operator (status port 8000) and Prometheus (the
    exporter, 9187) in; each other, the API server and S3 (443) out. Poolers: client namespaces in; the instances and
    the API server out."""
    instances = {"matchExpressions": [{"key": CLUSTER_LABEL, "operator": "Exists"}]}
    poolers = {"matchExpressions": [{"key": POOLER_LABEL, "operator": "Exists"}]}
    postgres = [{"protocol": "TCP", "port": PORT}]
    https = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    operator = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": operator_namespace}}}
    prometheus = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": prometheus_namespace}}}

    def policy(name: str, selector: dict[str, Any], ingress: Sequence[Any], egress: Sequence[Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(name, namespace, labels=labels("network")),
            "spec": {
                "podSelector": selector,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": list(ingress),
                "egress": list(egress),
            },
        }

    return [
        policy(
            "allow-postgres",
            instances,
            [
                {"from": [{"podSelector": instances}, {"podSelector": poolers}], "ports": postgres},
                {"from": [operator], "ports": [{"protocol": "TCP", "port": 8000}, *postgres]},
                {"from": [prometheus], "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
            ],
            [{"to": [{"podSelector": instances}], "ports": postgres}, https],
        ),
        policy(
            "allow-poolers",
            poolers,
            [{"from": [{"namespaceSelector": {"matchLabels": {CLIENT_LABEL: "true"}}}], "ports": postgres}],
            [{"to": [{"podSelector": instances}], "ports": postgres}, https],
        ),
    ]


def operator_release_values() -> dict[str, Any]:
    """Values of the operator's Helm chart: two replicas, its CRDs installed by the chart."""
    return {"replicaCount": 2, "crds": {"create": True}}


def shard_outputs(spec: ClusterSpec, index: int, secret_arn: Any, region: str) -> dict[str, Any]:
    """A CloudNativePG shard in the RDS shard contract (docs/outputs.md): in-cluster Service names."""
    return {
        "id": index,
        "name": spec.name,
        "topology": "cloudnativepg",
        "writerEndpoint": spec.host(f"{spec.name}-rw"),
        "readerEndpoints": [spec.host(f"{spec.name}-ro")],
        "proxyEndpoint": spec.host(spec.pooler),
        "port": PORT,
        "proxyPort": PORT,
        "databaseName": spec.database,
        "secretArn": secret_arn,
        "iamAuthentication": False,
        "region": region,
        "backupPrefix": spec.backup_prefix,
    }
