"""Stack outputs are a documented contract: both stacks satisfy docs/outputs.schema.json, secrets stay masked."""

import json

import jsonschema
import pytest

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation

SCHEMA = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())


def test_schema_is_a_valid_json_schema() -> None:
    meta = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    assert [e.message for e in meta.iter_errors(SCHEMA)] == []


def test_outputs_match_the_documented_schema(each_stack: Evaluation) -> None:
    errors = jsonschema.Draft202012Validator(SCHEMA).iter_errors(each_stack.masked_outputs())
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def test_schema_rejects_a_broken_contract(prod: Evaluation) -> None:
    broken = json.loads(json.dumps(prod.masked_outputs()))
    del broken["network"]["dataSubnetIds"]
    with pytest.raises(jsonschema.ValidationError, match="dataSubnetIds"):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)


def test_network_outputs_point_at_recorded_resources(each_stack: Evaluation) -> None:
    network = each_stack.outputs["network"]
    for subnet_id in network["appSubnetIds"] + network["dataSubnetIds"]:
        subnet = each_stack.by_id(subnet_id)
        assert subnet is not None and subnet.type == "aws:ec2/subnet:Subnet"
    assert [each_stack.by_id(i).inputs["tags"]["tier"] for i in network["dataSubnetIds"]] == ["data"] * len(
        network["dataSubnetIds"]
    )
    # The primary VPC (prod also declares the DR region's, `dr.network`).
    (vpc,) = [v for v in each_stack.of_type("aws:ec2/vpc:Vpc") if v.name == f"cryb-{each_stack.stack}-vpc"]
    assert network["vpcId"] == vpc.id


def test_shard_map_routes_every_bucket_to_exactly_one_declared_shard(each_stack: Evaluation) -> None:
    postgres = each_stack.outputs["postgres"]
    shard_map = postgres["shardMap"]
    owners = [None] * shard_map["bucketCount"]
    for entry in shard_map["ranges"]:
        for bucket in range(entry["first"], entry["last"] + 1):
            assert owners[bucket] is None, f"bucket {bucket} owned twice"
            owners[bucket] = entry["shard"]
    assert None not in owners
    assert set(owners) == {s["id"] for s in postgres["shards"]}
    for shard in postgres["shards"]:
        assert owners[shard["bucketRange"]["first"]] == owners[shard["bucketRange"]["last"]] == shard["id"]


def test_no_output_carries_a_password(each_stack: Evaluation) -> None:
    text = json.dumps(each_stack.outputs).lower()
    assert "password" not in text


def test_schema_rejects_an_undocumented_output(dev: Evaluation) -> None:
    extended = {**dev.masked_outputs(), "surprise": 1}
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        jsonschema.Draft202012Validator(SCHEMA).validate(extended)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("backups", "drVaultArn", None),
        ("backups", "replicaBucketArn", None),
        ("selfhosted", "clusters", []),
    ],
)
def test_prod_contract_promises_dr_copies_and_the_analytics_cluster(
    prod: Evaluation, section: str, field: str, value: object
) -> None:
    broken = json.loads(json.dumps(prod.masked_outputs()))
    broken[section][field] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)
    # the same value is fine for dev, which has no DR region and no analytics cluster
    broken["environment"] = "dev"
    jsonschema.Draft202012Validator(SCHEMA).validate(broken)


def test_prod_contract_promises_the_warm_standby(prod: Evaluation) -> None:
    outputs = prod.masked_outputs()
    assert [s["region"] for s in outputs["dr"]["shards"]] == ["us-west-2"] * len(outputs["postgres"]["shards"])
    for broken in ({**outputs, "dr": None}, {k: v for k, v in outputs.items() if k != "dr"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(SCHEMA).validate(broken)
    missing_alarm = json.loads(json.dumps(outputs))
    del missing_alarm["dr"]["shards"][0]["lagAlarmName"]
    with pytest.raises(jsonschema.ValidationError, match="lagAlarmName"):
        jsonschema.Draft202012Validator(SCHEMA).validate(missing_alarm)
