"""The router's pure parts: the hash agrees with the program's, the contract parses both stacks' outputs and names
what is wrong, the live map applies moves and fences, and routing picks the region then the shard."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.postgres import shard_map
from cryb_db_client import (
    BucketFencedError,
    ContractError,
    IamToken,
    LiveMap,
    Router,
    Static,
    bucket_of,
    parse,
)
from scripts.preview.mock_engine import Evaluation
from tests.servers.shards import stack_outputs


@pytest.mark.parametrize("bucket_count", [1, 2, 1024, 4096])
def test_the_client_hash_is_the_programs(bucket_count: int) -> None:
    keys: list[int | str | bytes] = [0, 1, 42, -7, 10**18, "", "user-1", "communauté", b"\x00\xff", b"abc"]
    keys += list(range(1000, 1200))
    assert [bucket_of(k, bucket_count) for k in keys] == [shard_map.bucket_of(k, bucket_count) for k in keys]


def test_a_key_must_be_an_int_str_or_bytes() -> None:
    with pytest.raises(TypeError, match="not a bool"):
        bucket_of(True, 1024)
    with pytest.raises(ValueError, match="power of two"):
        bucket_of(1, 1000)


def test_the_contract_of_each_stack_parses(each_stack: Evaluation) -> None:
    contract = parse(each_stack.outputs)
    pg = each_stack.outputs["postgres"]
    assert sorted(contract.shards) == [s["id"] for s in pg["shards"]]
    assert contract.shard_map.version == pg["shardMap"]["version"]
    for shard in pg["shards"]:
        parsed = contract.shards[shard["id"]]
        assert parsed.region == shard["region"] == each_stack.outputs["region"]
        assert parsed.writer.port == shard["proxyPort"]  # the router writes through the proxy
        assert parsed.direct_writer.port == shard["port"]  # moves replicate from the instance
        first, last = shard["bucketRange"]["first"], shard["bucketRange"]["last"]
        assert {contract.shard_map.owner(b) for b in (first, last)} == {shard["id"]}


def _outputs(region: str = "us-east-1", shards: int = 3, map_shards: int = 2, port: int = 6000) -> dict[str, Any]:
    arn = f"arn:aws:secretsmanager:{region}:111122223333:secret:s"
    return stack_outputs([(port + i, arn, "app") for i in range(shards)], map_shards=map_shards, region=region)


def test_contract_errors_name_the_field() -> None:
    broken = _outputs()
    del broken["postgres"]["shardMap"]
    with pytest.raises(ContractError, match=r"`postgres\.shardMap` is missing"):
        parse(broken)
    other_hash = _outputs()
    other_hash["postgres"]["shardMap"]["hash"] = "crc32"
    with pytest.raises(ContractError, match="'crc32'"):
        parse(other_hash)
    missing_shard = _outputs()
    missing_shard["postgres"]["shards"] = missing_shard["postgres"]["shards"][:1]
    with pytest.raises(ContractError, match=r"name shards \[1\]"):
        parse(missing_shard)


def test_the_live_map_applies_moves_and_fences() -> None:
    base = parse(_outputs()).shard_map
    live = LiveMap(base, epoch=3, owners={0: 2, 1: 2}, fenced=frozenset({5}))
    assert [live.owner(b) for b in (0, 1, 2, 5, 600)] == [2, 2, 0, 0, 1]
    assert live.buckets_of(2) == [0, 1]
    assert len(live.buckets_of(0)) == 512 - 2
    assert live.version == f"{base.version}+3"


def _router(*stacks: dict[str, Any], **kwargs: Any) -> Router:
    return Router(list(stacks), credentials=Static("app", "pw"), follow_moves=False, **kwargs)


def test_routes_pick_the_region_then_the_shard() -> None:
    router = _router(_outputs("us-east-1"), _outputs("eu-west-1", shards=2, map_shards=2, port=7000))
    key = "community-42"
    bucket = bucket_of(key, 1024)
    home, eu = router.route(key), router.route(key, region="eu-west-1")
    assert home.bucket == eu.bucket == bucket  # one bucket space
    assert (home.region, eu.region) == ("us-east-1", "eu-west-1")
    assert eu.shard.region == "eu-west-1" and eu.shard.writer.port >= 7000
    assert home.shard.id == (0 if bucket < 512 else 1)
    with pytest.raises(ContractError, match="region 'ap-south-1'"):
        router.route(key, region="ap-south-1")


def test_regional_stacks_must_share_the_bucket_space() -> None:
    other = _outputs("eu-west-1")
    other["postgres"]["shardMap"] = shard_map.document(2048, 2)
    with pytest.raises(ContractError, match="bucketCount differs"):
        _router(_outputs(), other)
    with pytest.raises(ContractError, match="both in region"):
        _router(_outputs(), _outputs())


def test_a_write_to_a_fenced_bucket_is_refused_before_connecting() -> None:
    router = _router(_outputs(port=1))  # nothing listens: the refusal must not need a connection
    state = router._region(None)
    bucket = bucket_of("user-9", 1024)
    state.live = LiveMap(state.live.base, 1, {}, frozenset({bucket}))
    assert router.route("user-9").fenced
    with pytest.raises(BucketFencedError, match=f"bucket {bucket} is fenced") as refused:
        with router.transaction("user-9"):
            pass
    assert refused.value.retryable


def test_iam_tokens_are_asked_for_the_endpoint_and_region() -> None:
    calls: list[dict[str, Any]] = []

    class Rds:
        def generate_db_auth_token(self, **kwargs: Any) -> str:
            calls.append(kwargs)
            return "token"

    outputs = _outputs("eu-west-1")
    shard = parse(outputs).shards[0]
    with pytest.raises(ValueError, match="iamAuthentication is false"):
        IamToken("app", client_factory=lambda region: Rds())(shard, shard.writer)
    iam = copy.deepcopy(outputs)
    iam["postgres"]["shards"][0]["iamAuthentication"] = True
    shard = parse(iam).shards[0]
    assert IamToken("app", client_factory=lambda region: Rds())(shard, shard.writer) == {
        "user": "app",
        "password": "token",
    }
    assert calls == [{"DBHostname": "127.0.0.1", "Port": 6000, "DBUsername": "app", "Region": "eu-west-1"}]
