"""Every usage volume the estimate assumes (docs/cost.md#assumptions): the program declares capacity, not traffic,
so these are stated, printed with the estimate, and easy to change in one place."""

# NAT gateways: data each one processes per month (egress of package mirrors, AWS APIs without an endpoint, webhooks).
NAT_GB_PER_GATEWAY = 100.0
# Interface endpoints: data through each endpoint per month.
ENDPOINT_GB_PER_ENDPOINT = 20.0
# Network Load Balancers: average LCUs per hour.
NLB_LCU = 1.0
# RDS automated backups: storage billed beyond the free share (100 % of provisioned storage) is the daily change
# kept for the retention period: allocated GB x this fraction x retention days.
RDS_DAILY_CHANGE_FRACTION = 0.02
# Cross-region copies of automated backups: one full copy plus the same daily changes, stored in the DR region.
# CloudWatch Logs: GB ingested per log group per month (flow logs are larger), stored for the group's retention.
LOG_INGEST_GB_PER_GROUP = 2.0
FLOW_LOG_INGEST_GB = 30.0
LOG_STORAGE_COMPRESSION = 0.15  # stored (compressed) bytes per ingested byte
# S3: data held per bucket (backups, their DR replica; access-log buckets hold little), spread over the storage
# classes of its lifecycle transitions as if objects of every age up to the horizon were stored evenly.
S3_BACKUP_BUCKET_GB = 500.0
S3_LOG_BUCKET_GB = 5.0
S3_HORIZON_DAYS = 365.0
# AWS Backup: warm storage held per vault (recovery points of the selected resources, incremental).
BACKUP_VAULT_GB = 300.0
# Lambda: invocations per function per month and their average duration.
LAMBDA_INVOCATIONS = 100_000.0
LAMBDA_AVG_SECONDS = 0.5
# EC2 root/data volumes: gp3 with the free baseline (3,000 IOPS, 125 MB/s) only.


def printed() -> list[str]:
    """The assumptions, one sentence each, as the estimate prints them."""
    return [
        "730 hours per month; on-demand list prices; no free tier, reserved instances or savings plans",
        f"NAT gateways process {NAT_GB_PER_GATEWAY:g} GB/month each",
        f"interface endpoints carry {ENDPOINT_GB_PER_ENDPOINT:g} GB/month each",
        f"Network Load Balancers average {NLB_LCU:g} LCU",
        "RDS backup storage up to 100 % of provisioned storage is free; beyond it: "
        f"allocated GB x {RDS_DAILY_CHANGE_FRACTION:.0%} daily change x retention days",
        "cross-region automated-backup copies: one full copy plus the daily changes, stored in the DR region",
        "RDS read replicas inherit the source's allocated storage; Multi-AZ doubles instance and storage, a Multi-AZ "
        "DB cluster triples them",
        f"CloudWatch Logs: {LOG_INGEST_GB_PER_GROUP:g} GB/month ingested per log group ({FLOW_LOG_INGEST_GB:g} GB for "
        f"flow logs), stored compressed to {LOG_STORAGE_COMPRESSION:.0%} for the group's retention",
        f"S3: {S3_BACKUP_BUCKET_GB:g} GB per backup bucket, {S3_LOG_BUCKET_GB:g} GB per access-log bucket, spread "
        f"over the lifecycle's storage classes as if ages up to {S3_HORIZON_DAYS:g} days were held evenly",
        f"AWS Backup: {BACKUP_VAULT_GB:g} GB warm storage per vault",
        f"Lambda: {LAMBDA_INVOCATIONS:,.0f} invocations/month per function, {LAMBDA_AVG_SECONDS:g} s each",
        "SNS, SQS, EventBridge, Route 53 records and VPC flow-log delivery: within free tiers or negligible (0)",
        "not estimated: requests, data transfer between AZs, Performance Insights beyond 7 days, enhanced monitoring",
    ]
