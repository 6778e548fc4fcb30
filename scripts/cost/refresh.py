"""Rebuild a price table from the AWS Pricing API (`pricing` client, `get_products`; docs/cost.md#refreshing-prices).

The instance tables (RDS PostgreSQL Single-AZ, ElastiCache, EC2 Linux) and the scalar prices in `QUERIES` are
read from the API; every other key keeps its value from the current table, and `sources` says which is which.
Parsing is pure (`parse_price_list`); only `refresh_table` talks to a client, which tests replace with a Stubber.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# The Pricing API answers in us-east-1 (and a few others) for every region.
PRICING_API_REGION = "us-east-1"


@dataclass(frozen=True)
class Query:
    """One get_products query and where its prices go in the table."""

    key: str  # the table key it fills
    service: str  # ServiceCode
    filters: dict[str, str]
    by: str | None = None  # product attribute naming each price (instanceType): a dict key; None: one scalar
    usagetype_suffix: str = ""  # scalars: the product whose usagetype ends so
    only_known: bool = True  # instance tables: keep only the names the current table lists (what the config allows)
    source: str = field(default="")


QUERIES: tuple[Query, ...] = (
    Query(
        "rds_instance_hourly",
        "AmazonRDS",
        {"productFamily": "Database Instance", "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"},
        by="instanceType",
    ),
    Query(
        "elasticache_node_hourly",
        "AmazonElastiCache",
        {"productFamily": "Cache Instance", "cacheEngine": "Redis"},
        by="instanceType",
    ),
    Query(
        "ec2_instance_hourly",
        "AmazonEC2",
        {
            "productFamily": "Compute Instance",
            "operatingSystem": "Linux",
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
            "licenseModel": "No License required",
        },
        by="instanceType",
    ),
    Query("nat_gateway_hour", "AmazonEC2", {"productFamily": "NAT Gateway"}, usagetype_suffix="NatGateway-Hours"),
    Query("nat_gateway_gb", "AmazonEC2", {"productFamily": "NAT Gateway"}, usagetype_suffix="NatGateway-Bytes"),
    Query("rds_proxy_vcpu_hour", "AmazonRDS", {"productFamily": "RDS Proxy"}, usagetype_suffix="Proxy-vCPU-Hours"),
    Query("kms_key_month", "awskms", {"productFamily": "Encryption Key"}, usagetype_suffix="KMS-Keys"),
    Query(
        "secretsmanager_secret_month",
        "AWSSecretsManager",
        {"productFamily": "Secret"},
        usagetype_suffix="AWSSecretsManager-Secrets",
    ),
)


class RefreshError(RuntimeError):
    """The API returned nothing usable for a query (named in the message)."""


def _first_usd(product: dict[str, Any]) -> float | None:
    """The on-demand price of the first tier (beginRange 0) of a product, in USD."""
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        dimensions = list((term.get("priceDimensions") or {}).values())
        dimensions.sort(key=lambda d: float(d.get("beginRange", "0") or 0))
        for dimension in dimensions:
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if usd is not None:
                return float(usd)
    return None


def parse_price_list(price_list: Iterable[str], query: Query) -> dict[str, float]:
    """Prices of get_products' `PriceList` (JSON strings): attribute value -> USD (a scalar query: its usagetype)."""
    prices: dict[str, float] = {}
    for text in price_list:
        product = json.loads(text)
        attributes = product.get("product", {}).get("attributes", {})
        name = attributes.get(query.by) if query.by else attributes.get("usagetype", "")
        if not name or (not query.by and not str(name).endswith(query.usagetype_suffix)):
            continue
        usd = _first_usd(product)
        if usd is not None and usd > 0:
            prices[str(name)] = usd
    return prices


def get_price_list(client: Any, query: Query, region: str) -> list[str]:
    """Every page of get_products for the query in `region`."""
    filters = [
        {"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in {**query.filters, "regionCode": region}.items()
    ]
    pages: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"ServiceCode": query.service, "Filters": filters, "FormatVersion": "aws_v1"}
        if token:
            kwargs["NextToken"] = token
        response = client.get_products(**kwargs)
        pages.extend(response.get("PriceList", []))
        token = response.get("NextToken")
        if not token:
            return pages


def refresh_table(
    client: Any, region: str, base: dict[str, Any], queries: Iterable[Query] = QUERIES, today: date | None = None
) -> dict[str, Any]:
    """`base` with the prices of `queries` read from the API for `region`, dated today."""
    table = json.loads(json.dumps(base))
    table.update(region=region, as_of=(today or date.today()).isoformat(), verified=True)
    table.setdefault("sources", {})
    refreshed: list[str] = []
    for query in queries:
        prices = parse_price_list(get_price_list(client, query, region), query)
        if not prices:
            raise RefreshError(f"the Pricing API returned no {query.service} price for {query.key} in {region}")
        if query.by:
            current: dict[str, float] = table.get(query.key, {})
            found = {k: v for k, v in prices.items() if k in current or not query.only_known}
            table[query.key] = dict(sorted({**current, **found}.items()))
            missing = sorted(set(current) - set(found))
            note = f"; {len(missing)} kept from the previous table ({', '.join(missing[:5])})" if missing else ""
            refreshed.append(f"{query.key}: {len(found)} prices{note}")
        else:
            table[query.key] = min(prices.values())
            refreshed.append(query.key)
    table["note"] = (
        f"Refreshed from the AWS Pricing API (get_products) on {table['as_of']}: {'; '.join(refreshed)}. "
        "Every other key is kept from the previous table (see sources)."
    )
    table["sources"]["pricing_api"] = "get_products: " + ", ".join(q.key for q in queries)
    return table
