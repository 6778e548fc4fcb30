"""A self-hosted node's pgBackRest inputs: the cluster's prefix in the backup bucket with the bucket's key, and the
node's paths (cloud_init.py, patroni_config.py). One definition for `SelfHostedCluster` and the real-server drills
(tests/servers/pgbackrest.py), so a drill runs the configuration every node gets."""

from components.selfhosted.cloud_init import PGBACKREST_LOCK_PATH, PGBACKREST_LOG_DIR, PGBACKREST_SPOOL
from components.selfhosted.patroni_config import PROD_DATA_DIR, PROD_SOCKET_DIR
from components.selfhosted.pgbackrest_config import PgBackRestInputs, S3Repo

PROCESS_MAX = 2  # parallel compression/transfer processes: leaves the other cores to PostgreSQL during a backup


def backup_prefix(cluster: str) -> str:
    """The cluster's own prefix in the backup bucket."""
    return f"pgbackrest-{cluster}"


def standby_backup_prefix(cluster: str) -> str:
    """A DR standby cluster's own prefix in the DR region's bucket, beside the primary's replicated one (which has
    the primary's name): it writes there only after its promotion (docs/disaster-recovery.md)."""
    return f"pgbackrest-{cluster}-dr"


def node_pgbackrest_inputs(
    *,
    cluster: str,
    stanza: str,
    bucket: str,
    region: str,
    kms_key_arn: str,
    pg_port: int,
    retention_full_days: int,
    prefix: str | None = None,
) -> PgBackRestInputs:
    """What `render_pgbackrest_conf` renders for every node of `cluster` (all nodes of a cluster share one file);
    `prefix`: another prefix than the cluster's own (a standby cluster's, `standby_backup_prefix`)."""
    return PgBackRestInputs(
        stanza=stanza,
        repo=S3Repo(bucket=bucket, region=region, kms_key_arn=kms_key_arn, prefix=prefix or backup_prefix(cluster)),
        pg_data_dir=PROD_DATA_DIR,
        pg_port=pg_port,
        pg_socket_dir=PROD_SOCKET_DIR,
        spool_path=PGBACKREST_SPOOL,
        log_path=PGBACKREST_LOG_DIR,
        lock_path=PGBACKREST_LOCK_PATH,
        process_max=PROCESS_MAX,
        retention_full_days=retention_full_days,
    )
