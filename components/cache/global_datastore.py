"""Where ElastiCache Global Datastore can replicate the cache to the DR region, as AWS documents it ("Prerequisites
and limitations", docs.aws.amazon.com/AmazonElastiCache/latest/dg/Redis-Global-Datastores-Getting-Started.html):
Valkey or Redis OSS (not Memcached, not the self-hosted engine), node families M5, M6g, M7g, R5, R6g, R6gd, R7g and
C7gn in size large and above, and the regions listed there. Pure: the config refuses what does not fit."""

import re

SUPPORTED_FAMILIES = ("m5", "m6g", "m7g", "r5", "r6g", "r6gd", "r7g", "c7gn")
TOO_SMALL_SIZES = ("nano", "micro", "small", "medium")
SUPPORTED_REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-4",
    "ap-south-1",
    "ap-northeast-3",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-7",
    "ap-northeast-1",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-west-2",
    "eu-west-1",
    "eu-south-1",
    "eu-west-3",
    "eu-south-2",
    "eu-north-1",
    "eu-central-2",
    "us-gov-west-1",
    "us-gov-east-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "mx-central-1",
    "sa-east-1",
)
_NODE_TYPE = re.compile(r"^cache\.(?P<family>[a-z0-9-]+)\.(?P<size>[a-z0-9]+)$")


def node_type_problem(node_type: str) -> str | None:
    """Why `node_type` cannot join a global datastore, or None."""
    match = _NODE_TYPE.match(node_type)
    family, size = (match["family"], match["size"]) if match else ("", "")
    if family in SUPPORTED_FAMILIES and size not in TOO_SMALL_SIZES:
        return None
    return (
        f"Global Datastore needs a node of size large or above of the families {', '.join(SUPPORTED_FAMILIES)} "
        "(e.g. cache.r7g.large)"
    )


def region_problem(region: str) -> str | None:
    """Why `region` cannot hold a member of a global datastore, or None."""
    if region in SUPPORTED_REGIONS:
        return None
    return f"Global Datastore is not offered there (regions: {', '.join(sorted(SUPPORTED_REGIONS))})"
