"""Kubernetes: the applications' side on the EKS cluster (docs/kubernetes.md): each consuming application's namespace
(PSS restricted, the outputs contract as a ConfigMap, its secrets through External Secrets and its own IAM role, a
default-deny NetworkPolicy) and PgBouncer in front of every shard and self-hosted cluster; with `engine: kubernetes`
the data stores themselves (`DataStores`: CloudNativePG clusters, a Valkey cluster StatefulSet).

Owns: `component.py` (`ApplicationAccess`, `PgBouncerPoolers`), `data_stores.py` (`DataStores`), `objects.py`
(`KubernetesObject`: one object from its manifest; `HelmRelease`), the pure modules `manifests.py`, `pgbouncer_ini.py`,
`pool_sizing.py`, `iam_documents.py`, `cnpg.py`, `cache_cluster.py`, `alert_rules.py` (the stores' PrometheusRule
alerts and PodMonitors), and `crds/` (the External Secrets, cert-manager, CloudNativePG and prometheus-operator CRDs
the objects are validated against, and CloudNativePG's default metrics queries, vendored from their releases).
May import: `components.postgres` (tuning), `components.cache` (redis.conf, the plan, the bootstrap script),
`components.backups` (the backup writer policy).
Imported by: `__main__`, `config` (pool sizing, the ini's version table).
"""

from .component import (
    ApplicationAccess,
    ApplicationAccessArgs,
    PgBouncerArgs,
    PgBouncerPoolers,
    PgBouncerPoolersArgs,
    PoolerTargetArgs,
    SecretsIdentityArgs,
)
from .data_stores import CacheClusterArgs, DataStores, DataStoresArgs, PostgresClusterArgs, PostgresSettingsArgs

__all__ = [
    "ApplicationAccess",
    "ApplicationAccessArgs",
    "CacheClusterArgs",
    "DataStores",
    "DataStoresArgs",
    "PgBouncerArgs",
    "PgBouncerPoolers",
    "PgBouncerPoolersArgs",
    "PoolerTargetArgs",
    "PostgresClusterArgs",
    "PostgresSettingsArgs",
    "SecretsIdentityArgs",
]
