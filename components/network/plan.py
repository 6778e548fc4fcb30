"""Pure subnet arithmetic for the VPC: which CIDR each tier gets in each AZ."""

import ipaddress
from dataclasses import dataclass

TIERS = ("app", "data", "public")

# The VPC is cut into 16 equal blocks; tiers start at fixed block offsets so adding a 4th AZ (or a tier)
# later never renumbers an existing subnet.
BLOCKS_PER_VPC_BITS = 4
TIER_OFFSET = {"app": 0, "data": 4, "public": 8}
MAX_AZS = 4


@dataclass(frozen=True)
class SubnetPlan:
    tier: str
    az_index: int
    cidr: str


def plan_subnets(vpc_cidr: str, az_count: int) -> list[SubnetPlan]:
    """Subnets of every tier in every AZ: /16 gives /20 subnets (4,091 usable addresses each)."""
    if not 1 <= az_count <= MAX_AZS:
        raise ValueError(f"az_count={az_count}: must be 1-{MAX_AZS}")
    network = ipaddress.IPv4Network(vpc_cidr, strict=True)
    blocks = list(network.subnets(prefixlen_diff=BLOCKS_PER_VPC_BITS))
    return [SubnetPlan(tier, az, str(blocks[TIER_OFFSET[tier] + az])) for tier in TIERS for az in range(az_count)]


def az_letter(index: int) -> str:
    """`a`, `b`, `c`: suffixes for resource names, stable whatever the real AZ names are."""
    return "abcdefgh"[index]


EPHEMERAL_PORTS = (1024, 65535)
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class NaclRule:
    rule_no: int
    cidr_block: str
    protocol: str = "-1"  # all protocols
    from_port: int = 0
    to_port: int = 0


RDP_PORT = 3389


def nacl_rules(vpc_cidr: str) -> dict[str, tuple[list[NaclRule], list[NaclRule]]]:
    """(ingress, egress) allow-rules per tier. Every subnet gets an explicit NACL because the default NACL
    keeps no rules. From outside the VPC only return traffic to ephemeral ports comes in, and that range is
    split around 3389 so neither 22 nor 3389 is ever open to the world (EC2.21); a NAT connection that picks
    source port 3389 is retried by TCP. The data tier talks to the VPC, plus 443 out, which reaches only the
    S3 gateway endpoint because the data route table has no default route."""
    low, high = EPHEMERAL_PORTS
    from_vpc = NaclRule(100, vpc_cidr)
    return_traffic = [
        NaclRule(200, ANYWHERE, "tcp", low, RDP_PORT - 1),
        NaclRule(201, ANYWHERE, "tcp", RDP_PORT + 1, high),
        NaclRule(210, ANYWHERE, "udp", low, RDP_PORT - 1),
        NaclRule(211, ANYWHERE, "udp", RDP_PORT + 1, high),
    ]
    everywhere = NaclRule(100, ANYWHERE)
    return {
        "public": ([from_vpc, *return_traffic], [everywhere]),
        "app": ([from_vpc, *return_traffic], [everywhere]),
        "data": ([from_vpc, *return_traffic[:2]], [NaclRule(100, vpc_cidr), NaclRule(200, ANYWHERE, "tcp", 443, 443)]),
    }
