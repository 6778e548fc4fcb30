"""`cryb-db:network`: the VPC that isolates the data tier."""

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from .base import Section

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy API).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def check_log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in LOG_RETENTION_DAYS)
        raise ValueError(f"must be one of the CloudWatch Logs retention periods: {allowed}")
    return days


class NetworkConfig(Section):
    """The VPC: three subnet tiers (public for NAT only, private app, isolated data) over `azCount` AZs."""

    cidr: str = Field(
        default="10.20.0.0/16",
        description="IPv4 CIDR of the VPC; a private (RFC 1918) range with a prefix from /16 to /20.",
    )
    az_count: int = Field(
        default=3, ge=2, le=3, description="Availability zones the subnets span: 3 (required in prod) or 2."
    )
    nat_gateways: Literal["perAz", "single"] = Field(
        default="perAz",
        description="`perAz`: one NAT gateway per AZ, so an AZ outage does not cut egress (required in prod); "
        "`single`: one shared NAT gateway (cheaper, dev).",
    )
    interface_endpoints: bool = Field(
        default=True,
        description="Interface endpoints for Secrets Manager, KMS, CloudWatch Logs, CloudWatch, STS and EC2, so "
        "AWS API traffic stays in the VPC (required in prod).",
    )
    flow_log_retention_days: int = Field(
        default=365,
        description="Retention of the VPC flow log group in days (a CloudWatch Logs period; at least 365 in prod).",
    )
    flow_log_aggregation_seconds: Literal[60, 600] = Field(
        default=60, description="Flow log aggregation interval in seconds: 60 or 600."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr_is_private_and_sized(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"must be an IPv4 network such as 10.20.0.0/16 ({exc})") from None
        if not network.is_private:
            raise ValueError("must be a private (RFC 1918) range such as 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16")
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("must have a prefix length from /16 to /20")
        return str(network)

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_period(cls, value: int) -> int:
        return check_log_retention(value)
