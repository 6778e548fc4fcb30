"""The SelfHostedCluster arguments the small test programs declare (tests/components/selfhosted/test_component.py,
tests/components/monitoring/test_selfhosted_alarms.py): one set of test values, rendered as Python source for a
program's __main__.py."""

from typing import Any

from components.network.plan import plan_subnets

TAGS = {"environment": "prod", "service": "cryb-db", "owner": "platform-team", "data-classification": "confidential"}
DATA_CIDRS = [p.cidr for p in plan_subnets("10.20.0.0/16", 3) if p.tier == "data"]


def cluster_args_source(timing: str = "DcsTiming()", **overrides: Any) -> str:
    """The args dict literal (`timing` is code: the program imports DcsTiming); `overrides` replace test values."""
    values: dict[str, Any] = {
        "cluster": "analytics",
        "instance_type": "i4i.2xlarge",
        "node_count": 3,
        "postgres_major": "17",
        "timescaledb": True,
        "synchronous_mode": True,
        "synchronous_mode_strict": True,
        "port": 5432,
        "database_name": "cryb",
        "admin_user": "cryb_admin",
        "backup_retention_days": 35,
        "vpc_id": "vpc-0test",
        "vpc_cidr": "10.20.0.0/16",
        "availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "subnet_ids": ["subnet-data-a", "subnet-data-b", "subnet-data-c"],
        "subnet_cidrs": DATA_CIDRS,
        "client_security_group_ids": ["sg-app", "sg-pooler"],
        "backup_bucket_arn": "arn:aws:s3:::cryb-test-backups",
        "backup_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/backup",
        "data_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/data",
        "secrets_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/secrets",
        "logs_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/logs",
        "log_retention_days": 365,
        "root_volume_gib": 30,
        "image_ssm_parameter": None,
        "package_proxy": None,
        "dns_zone_name": "analytics.test.cryb-db.internal",
        "account_id": "123456789012",
        "region": "us-east-1",
        "tags": TAGS,
    }
    unknown = set(overrides) - set(values)
    if unknown:
        raise KeyError(f"not a SelfHostedCluster argument of the test programs: {sorted(unknown)}")
    values.update(overrides)
    lines = [f"    {key!r}: {value!r}," for key, value in values.items()] + [f"    'timing': {timing},"]
    return "{\n" + "\n".join(lines) + "\n}"
