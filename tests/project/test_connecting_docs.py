"""docs/connecting.md's Python example, run as the page shows it, on the prod stack's outputs: it routes keys as the
shard map does, reads the user from the shard's secret (moto), builds the IAM policy the page shows for each shard's
proxy, and a connection string with a real IAM token for the proxy."""

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from components.postgres.shard_map import shard_for as shard_map_shard_for
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import MOCK_ACCOUNT_ID, Evaluation

DOC = (PROJECT_DIR / "docs" / "connecting.md").read_text()


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    (code,) = re.findall(r"```python\n(.*?)```", DOC, flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/connecting.md", "exec"), namespace)  # the documented example itself
    return namespace


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_routing_matches_the_shard_map(example: dict[str, Any], prod: Evaluation) -> None:
    outputs = prod.outputs
    count, shards = outputs["postgres"]["shardMap"]["bucketCount"], len(outputs["postgres"]["shards"])
    for key in [*range(2000), "user:42", "t3_abc", b"\x00\xff"]:
        assert example["shard_for"](key, outputs)["id"] == shard_map_shard_for(key, count, shards), key


def test_the_user_comes_from_the_shards_secret(example: dict[str, Any], prod: Evaluation, aws: None) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="rds!db-x", SecretString=json.dumps({"username": "cryb_admin", "password": "p"}))
    shard = {**prod.outputs["postgres"]["shards"][0], "secretArn": arn["ARN"]}
    assert example["admin_user"](shard, secrets) == "cryb_admin"


def test_the_policy_names_every_shards_proxy(example: dict[str, Any], prod: Evaluation) -> None:
    policy = example["connect_policy"](prod.outputs, MOCK_ACCOUNT_ID, "cryb_admin")
    (statement,) = policy["Statement"]
    assert statement["Action"] == "rds-db:connect" and statement["Effect"] == "Allow"
    assert statement["Resource"] == [
        f"arn:aws:rds-db:us-east-1:{MOCK_ACCOUNT_ID}:dbuser:prx-cryb-prod-pg-{n:02d}-proxy/cryb_admin" for n in range(4)
    ]
    # the page's JSON has the same shape (with an example account and proxy id)
    (shown,) = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)]
    assert shown["Statement"][0].keys() == statement.keys()
    assert re.fullmatch(
        r"arn:aws:rds-db:[a-z0-9-]+:\d{12}:dbuser:prx-[a-z0-9]+/cryb_admin", shown["Statement"][0]["Resource"][0]
    )


def test_the_conninfo_uses_the_proxy_an_iam_token_and_verify_full(
    example: dict[str, Any], prod: Evaluation, aws: None
) -> None:
    shard = prod.outputs["postgres"]["shards"][1]
    info = example["proxy_conninfo"](shard, "cryb_admin", boto3.client("rds", region_name="us-east-1"))
    assert (info["host"], info["port"], info["dbname"]) == (shard["proxyEndpoint"], 5432, "cryb")
    assert (info["sslmode"], info["sslrootcert"]) == ("verify-full", "AmazonRootCA1.pem")
    token = urlsplit("https://" + info["password"])  # host:port/?Action=connect&DBUser=...&X-Amz-Signature=...
    assert (token.hostname, token.port) == (shard["proxyEndpoint"], 5432)
    query = parse_qs(token.query)
    assert query["Action"] == ["connect"] and query["DBUser"] == ["cryb_admin"] and query["X-Amz-Signature"]
