"""Self-hosted PostgreSQL on EC2 NVMe: the Patroni cluster (etcd, TimescaleDB where available, pgBackRest to S3),
the files every node boots from (cloud-init, Patroni, pgBackRest and etcd config), the NVMe instance table, the
node credentials agent, and the rotation of the cluster's credentials with its Lambda function.

Owns: `component.py` (`SelfHostedCluster`), `rotation.py` (`SelfHostedCredentialRotation`), the pure renderers
`cloud_init.py`, `patroni_config.py`, `pgbackrest_config.py`, `nvme_instances.py`, `rotation_policies.py`, and
packages shipped as they are: `credentials_agent/` and `metrics_agent/` (copied to every node) and
`rotation_function/` (the Lambda).
May import: `components.security`, `components.metrics`, `components.postgres` (tuning), `components.backups`
(the backup writer's policy), `components.rotation`, `components.signing`.
Imported by: `__main__`, `components.monitoring`,
`components.config` (pure modules).
"""

from components.selfhosted.component import SelfHostedCluster, SelfHostedClusterArgs
from components.selfhosted.rotation import SelfHostedCredentialRotation, SelfHostedCredentialRotationArgs

__all__ = [
    "SelfHostedCluster",
    "SelfHostedClusterArgs",
    "SelfHostedCredentialRotation",
    "SelfHostedCredentialRotationArgs",
]
