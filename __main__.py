"""cryb-db: read the typed stack config, wire the components, export the documented outputs (docs/outputs.md)."""

import pulumi
import pulumi_aws as aws

from components.config import load_stack_config
from components.kms import KmsKeys
from components.network import Network

config = load_stack_config()  # raises ConfigError naming every bad key before any resource is registered
stack = pulumi.get_stack()
tags = config.tags_for(stack)
region = aws.get_region().region
account_id = aws.get_caller_identity().account_id
zones = aws.get_availability_zones(state="available").names
if len(zones) < config.network.az_count:
    raise ValueError(f"cryb-db:network.azCount = {config.network.az_count}: region {region} has only {len(zones)} AZs")

keys = KmsKeys(
    f"cryb-{stack}-keys",
    {
        "purposes": ["logs", "data"],
        "account_id": account_id,
        "region": region,
        "deletion_window_days": config.kms.deletion_window_days,
        "rotation_period_days": config.kms.rotation_period_days,
        "tags": tags,
    },
)

network = Network(
    f"cryb-{stack}",
    {
        "cidr": config.network.cidr,
        "availability_zones": zones[: config.network.az_count],
        "nat_gateways": config.network.nat_gateways,
        "interface_endpoints": config.network.interface_endpoints,
        "flow_log_retention_days": config.network.flow_log_retention_days,
        "flow_log_aggregation_seconds": config.network.flow_log_aggregation_seconds,
        "logs_kms_key_arn": keys.arns["logs"],
        "postgres_port": config.postgres.port,
        "cache_port": config.cache.port,
        "region": region,
        "account_id": account_id,
        "tags": {**tags, "data-classification": "internal"},
    },
)

pulumi.export("environment", config.environment)
pulumi.export("region", region)
pulumi.export(
    "network",
    {
        "vpcId": network.vpc_id,
        "vpcCidr": network.vpc_cidr,
        "availabilityZones": zones[: config.network.az_count],
        "appSubnetIds": network.app_subnet_ids,
        "dataSubnetIds": network.data_subnet_ids,
        "dbSubnetGroupName": network.db_subnet_group_name,
        "cacheSubnetGroupName": network.cache_subnet_group_name,
        "securityGroupIds": network.security_groups.ids(),
    },
)
pulumi.export("kmsKeyArns", keys.arns)
