"""Kubernetes: the applications' side on the EKS cluster (docs/kubernetes.md): each consuming application's namespace
(PSS restricted, the outputs contract as a ConfigMap, its secrets through External Secrets and its own IAM role, a
default-deny NetworkPolicy) and PgBouncer in front of every shard and self-hosted cluster.

Owns: `component.py` (`ApplicationAccess`, `PgBouncerPoolers`), `objects.py` (`KubernetesObject`: one object from its
manifest), the pure modules `manifests.py`, `pgbouncer_ini.py`, `pool_sizing.py`, `iam_documents.py`, and `crds/`
(the External Secrets and cert-manager CRDs the objects are validated against, vendored from their releases).
May import: nothing.
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

__all__ = [
    "ApplicationAccess",
    "ApplicationAccessArgs",
    "PgBouncerArgs",
    "PgBouncerPoolers",
    "PgBouncerPoolersArgs",
    "PoolerTargetArgs",
    "SecretsIdentityArgs",
]
