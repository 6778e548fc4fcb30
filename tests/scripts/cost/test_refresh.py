"""`prices refresh` against a recorded get_products response (two pages, the shape AWS returns)."""

import json
from datetime import date
from pathlib import Path

import boto3
from botocore.stub import ANY, Stubber

from scripts.cost.prices import load_table
from scripts.cost.refresh import QUERIES, parse_price_list, refresh_table

RECORDED = json.loads((Path(__file__).parent / "recorded" / "get_products_rds_us-west-2.json").read_text())
RDS = next(q for q in QUERIES if q.key == "rds_instance_hourly")


def test_the_parser_reads_each_instance_type_and_skips_zero_prices() -> None:
    prices = parse_price_list([p for page in RECORDED["pages"] for p in page["PriceList"]], RDS)
    assert prices == {"db.r7g.2xlarge": 0.956, "db.t4g.medium": 0.065, "db.r6gd.xlarge": 0.554, "db.x2g.large": 0.334}


def test_refresh_pages_through_the_api_and_keeps_what_it_did_not_read() -> None:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    base = load_table("us-west-2").data
    base["rds_instance_hourly"]["db.r6gd.xlarge"] = 9.99  # stale: the API's 0.554 replaces it
    with Stubber(client) as stub:
        expected = {"ServiceCode": "AmazonRDS", "Filters": ANY, "FormatVersion": "aws_v1"}
        stub.add_response("get_products", RECORDED["pages"][0], expected)
        stub.add_response("get_products", RECORDED["pages"][1], {**expected, "NextToken": "page-2-token"})
        table = refresh_table(client, "us-west-2", base, [RDS], today=date(2025, 7, 1))
        stub.assert_no_pending_responses()
    rds = table["rds_instance_hourly"]
    assert rds["db.r6gd.xlarge"] == 0.554 and rds["db.r7g.2xlarge"] == 0.956
    assert "db.x2g.large" not in rds  # not a class the config allows
    assert rds["db.r7g.large"] == base["rds_instance_hourly"]["db.r7g.large"]  # a 0 price is not a price: kept
    assert table["as_of"] == "2025-07-01" and table["verified"] is True and table["region"] == "us-west-2"
    assert "kept from the previous table" in table["note"]


def test_the_filters_name_the_region() -> None:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        filters = [
            {"Type": "TERM_MATCH", "Field": k, "Value": v}
            for k, v in {**RDS.filters, "regionCode": "us-west-2"}.items()
        ]
        stub.add_response(
            "get_products",
            RECORDED["pages"][1],
            {"ServiceCode": "AmazonRDS", "Filters": filters, "FormatVersion": "aws_v1"},
        )
        # The Stubber raises if the request's filters differ from these (a region other than us-west-2, say).
        table = refresh_table(client, "us-west-2", load_table("us-west-2").data, [RDS])
        stub.assert_no_pending_responses()
    assert table["region"] == "us-west-2"
    assert table["rds_instance_hourly"]["db.r6gd.xlarge"] == 0.554  # read from the stubbed page
