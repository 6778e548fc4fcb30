"""One CloudNativePG cluster spec, as the program would build it for a shard: shared by the manifest tests and the
policy rules' tests."""

from components.kubernetes import cnpg

CLUSTER_SPEC = cnpg.ClusterSpec(
    name="shard0",
    namespace="cryb-db-data",
    instances=3,
    image="ghcr.io/cloudnative-pg/postgresql:17.11-system-bookworm",
    cpu=4,
    memory_mib=32768,
    storage_gib=100,
    wal_storage_gib=20,
    storage_class="cryb-db-gp3-encrypted",
    database="cryb",
    owner="cryb_admin",
    timescaledb=False,
    backup_retention_days=35,
    backup_schedule="0 0 3 * * *",
    backup_destination="s3://backups/cnpg-shard0/",
    backup_prefix="cnpg-shard0",
    sse_kms_argument="--sse-kms-key-id=arn:aws:kms:us-east-1:123456789012:key/backups",
    role_arn="arn:aws:iam::123456789012:role/cnpg-shard0",
    pooler_instances=2,
    reserved_connections=10,
    max_client_connections=5000,
    max_prepared_statements=200,
)
