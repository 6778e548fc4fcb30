"""The dated price tables in `prices/<region>.json` (USD, on-demand; docs/cost.md): load one, or say which exist."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_DIR = Path(__file__).parent / "prices"
HOURS_PER_MONTH = 730

# Keys every table must have (the estimator reads each); `refresh` keeps them all.
REQUIRED_KEYS = (
    "region",
    "as_of",
    "currency",
    "rds_instance_hourly",
    "rds_storage_gb_month",
    "rds_iops_month",
    "rds_backup_gb_month",
    "rds_backup_transfer_gb",
    "rds_proxy_vcpu_hour",
    "elasticache_node_hourly",
    "elasticache_valkey_factor",
    "ec2_instance_hourly",
    "ebs_gb_month",
    "nat_gateway_hour",
    "nat_gateway_gb",
    "public_ipv4_hour",
    "interface_endpoint_az_hour",
    "interface_endpoint_gb",
    "nlb_hour",
    "nlb_lcu_hour",
    "kms_key_month",
    "cloudwatch_alarm_month",
    "cloudwatch_dashboard_month",
    "cloudwatch_logs_ingest_gb",
    "cloudwatch_logs_storage_gb_month",
    "s3_gb_month",
    "backup_warm_gb_month",
    "lambda_request_million",
    "lambda_gb_second",
    "secretsmanager_secret_month",
    "route53_zone_month",
)


class PriceTableError(ValueError):
    """A missing or malformed price table; the message names the region or file."""


@dataclass(frozen=True)
class PriceTable:
    region: str
    as_of: str
    verified: bool
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def available_regions(prices_dir: Path = PRICES_DIR) -> list[str]:
    return sorted(p.stem for p in prices_dir.glob("*.json"))


def table_path(region: str, prices_dir: Path = PRICES_DIR) -> Path:
    return prices_dir / f"{region}.json"


def load_table(region: str, prices_dir: Path = PRICES_DIR) -> PriceTable:
    """The table of `region`; PriceTableError naming the region and the regions that have one otherwise."""
    path = table_path(region, prices_dir)
    if not path.is_file():
        raise PriceTableError(
            f"no price table for region {region!r} ({path}); tables exist for: "
            f"{', '.join(available_regions(prices_dir)) or 'none'} (python -m scripts prices refresh --region {region})"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PriceTableError(f"price table {path} is not valid JSON: {exc}") from None
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise PriceTableError(f"price table {path} lacks {', '.join(missing)}")
    if data["region"] != region:
        raise PriceTableError(f"price table {path} is for region {data['region']!r}, not {region!r}")
    return PriceTable(region, str(data["as_of"]), bool(data.get("verified", False)), data)


class PriceTables:
    """The tables of the regions a stack uses, loaded once each."""

    def __init__(self, prices_dir: Path = PRICES_DIR):
        self.prices_dir = prices_dir
        self._tables: dict[str, PriceTable] = {}

    def __call__(self, region: str) -> PriceTable:
        if region not in self._tables:
            self._tables[region] = load_table(region, self.prices_dir)
        return self._tables[region]

    @property
    def loaded(self) -> list[PriceTable]:
        return [self._tables[r] for r in sorted(self._tables)]
