"""The DR drill's planning, no servers (scripts/dr/planning.py): shards from the stack outputs, restore targets and
scratch identifiers."""

from typing import Any

import pytest

from scripts.dr.planning import OutputsError, parse_target, scratch_identifier, shards_from_outputs
from tests.scripts.dr.stack_outputs import EXPORTED, NETWORK

SHARD = {
    "id": "shard-0",
    "instanceIdentifier": "cryb-prod-shard-0",
    "writerEndpoint": "cryb-prod-shard-0.abc.us-east-1.rds.amazonaws.com",
    "port": 5433,
    "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1",
    "database": "cryb",
    "dbSubnetGroupName": "cryb-prod-db",
    "securityGroupIds": ["sg-postgres"],
}


def test_outputs_are_read_from_the_documented_shape() -> None:
    (shard,) = shards_from_outputs({"postgres": {"shards": [SHARD]}})
    assert (shard.id, shard.instance_identifier, shard.port, shard.database) == (
        "shard-0",
        "cryb-prod-shard-0",
        5433,
        "cryb",
    )
    assert shard.security_group_ids == ("sg-postgres",)


def test_outputs_lookup_is_tolerant() -> None:
    snake = {
        "shard_id": "s1",
        "instance_identifier": "cryb-s1",
        "writer_endpoint": "cryb-s1.abc.rds.amazonaws.com:6543",  # port inside the endpoint
        "secret_arn": "arn:x",
        "db_name": "cryb",
    }
    network = {"dbSubnetGroupName": "net-db", "securityGroupIds": {"postgres": "sg-pg", "app": "sg-app"}}
    (shard,) = shards_from_outputs({"network": network, "postgres": {"shards": [snake]}})
    assert (shard.id, shard.host, shard.port) == ("s1", "cryb-s1.abc.rds.amazonaws.com", 6543)
    assert (shard.db_subnet_group_name, shard.security_group_ids) == ("net-db", ("sg-pg",))  # from `network`
    by_id = shards_from_outputs({"postgres": {"shards": {"shard-0": {k: v for k, v in SHARD.items() if k != "id"}}}})
    assert by_id[0].id == "shard-0"


def test_the_shape_the_postgres_component_exports_is_understood() -> None:
    outputs = {"network": NETWORK, "postgres": {"shards": [EXPORTED, {**EXPORTED, "id": 1, "name": "cryb-prod-pg-01"}]}}
    first, second = shards_from_outputs(outputs)
    assert (first.id, first.instance_identifier, first.database, first.topology) == (
        "0",
        "cryb-prod-pg-00",
        "cryb",
        "instance",
    )
    assert (first.db_subnet_group_name, first.security_group_ids) == ("cryb-prod-db", ("sg-postgres",))
    assert shards_from_outputs(outputs, "1") == [second] == shards_from_outputs(outputs, "cryb-prod-pg-01")


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"network": {}}, "no `postgres` output (outputs have: network)"),
        ({"postgres": {"port": 5433}}, "`postgres.shards` must be a non-empty list (postgres has: port)"),
        (
            {"postgres": {"shards": [{k: v for k, v in SHARD.items() if k != "instanceIdentifier"}]}},
            "postgres.shards[0] (shard-0): missing instanceIdentifier (as instanceIdentifier or instance_identifier",
        ),
    ],
)
def test_unusable_outputs_say_what_is_missing(outputs: dict[str, Any], message: str) -> None:
    with pytest.raises(OutputsError) as caught:
        shards_from_outputs(outputs)
    assert message in str(caught.value)


def test_an_unknown_shard_lists_the_known_ones() -> None:
    with pytest.raises(OutputsError, match=r"--shard 'shard-9': no such shard \(shards: shard-0\)"):
        shards_from_outputs({"postgres": {"shards": [SHARD]}}, "shard-9")


def test_targets_and_scratch_identifiers() -> None:
    assert parse_target("2026-05-01T03:00:00") == parse_target("2026-05-01T03:00:00Z")
    with pytest.raises(OutputsError, match="ISO 8601"):
        parse_target("yesterday")
    scratch = scratch_identifier("drill", "Shard_0", "20260501t030000z")
    assert scratch == "drill-shard-0-20260501t030000z"
    assert len(scratch_identifier("drill", "x" * 80, "r")) <= 63
