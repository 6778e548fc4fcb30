"""The typed stack config: defaults are secure, stack files are valid, and every bad value is named clearly."""

import json

import pytest

from components.config import ConfigError, StackConfig, parse_stack_config
from scripts.preview.stack_files import read_stack_file, stack_file_path
from tests.helpers import PROD_SELFHOSTED


def parse(**sections: object) -> StackConfig:
    raw = {"cryb-db:environment": "dev"}
    raw.update({f"cryb-db:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in sections.items()})
    return parse_stack_config(raw)


def problems(**sections: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(**sections)
    return caught.value.problems


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"environment": "production"},
            "cryb-db:environment = 'production': must be one of 'dev', 'staging' or 'prod'",
        ),
        ({"netwrok": {}}, "cryb-db:netwrok: unknown key (did you mean 'network'?)"),
        ({"network": {"azcount": 3}}, "cryb-db:network.azcount: unknown key (did you mean 'azCount'?)"),
        ({"network": {"azCount": 5}}, "cryb-db:network.azCount = 5: must be <= 3"),
        ({"network": {"azCount": 1}}, "cryb-db:network.azCount = 1: must be >= 2"),
        ({"network": {"azCount": "three"}}, "cryb-db:network.azCount = 'three': must be an integer"),
        ({"network": {"cidr": "8.8.0.0/16"}}, "cryb-db:network.cidr = '8.8.0.0/16': must be a private (RFC 1918)"),
        (
            {"network": {"cidr": "10.0.0.0/8"}},
            "cryb-db:network.cidr = '10.0.0.0/8': must have a prefix length from /16",
        ),
        ({"network": {"cidr": "10.0.0.1/16"}}, "cryb-db:network.cidr = '10.0.0.1/16': must be an IPv4 network"),
        (
            {"network": {"natGateways": "two"}},
            "cryb-db:network.natGateways = 'two': must be one of 'perAz' or 'single'",
        ),
        (
            {"network": {"interfaceEndpoints": "maybe"}},
            "cryb-db:network.interfaceEndpoints = 'maybe': must be true or false",
        ),
        (
            {"network": {"flowLogRetentionDays": 100}},
            "cryb-db:network.flowLogRetentionDays = 100: must be one of the CloudWatch",
        ),
        (
            {"network": {"flowLogAggregationSeconds": 30}},
            "cryb-db:network.flowLogAggregationSeconds = 30: must be one of 60 or 600",
        ),
        ({"kms": {"deletionWindowDays": 3}}, "cryb-db:kms.deletionWindowDays = 3: must be >= 7"),
        ({"kms": {"rotationPeriodDays": 5000}}, "cryb-db:kms.rotationPeriodDays = 5000: must be <= 2560"),
        ({"postgres": {"port": 5432}}, "cryb-db:postgres.port = 5432: must not be the default port 5432"),
        ({"cache": {"port": 80}}, "cryb-db:cache.port = 80: must be >= 1024"),
        ({"tags": {"owner": "me"}}, "cryb-db:tags = {'owner': 'me'}: must not set owner"),
        ({"dataClassification": "secret"}, "cryb-db:dataClassification = 'secret': must be one of 'public'"),
        ({"owner": ""}, "cryb-db:owner = '': must be a string of at least 1 characters"),
        ({"network": "not-json"}, "cryb-db:network = 'not-json': must be a mapping of keys to values"),
    ],
)
def test_invalid_value_is_named_with_its_value_and_what_is_allowed(sections: dict[str, object], expected: str) -> None:
    found = problems(**sections)
    assert any(p.startswith(expected) for p in found), found


def test_missing_environment_is_required() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({})
    assert caught.value.problems == ["cryb-db:environment: required; it has no default, set it in Pulumi.<stack>.yaml"]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(network={"azCount": 9, "natGateways": "x"}, kms={"deletionWindowDays": 1})
    assert len(found) == 3
    assert "3 problem" not in found[0]


def test_production_rules_name_key_value_and_requirement() -> None:
    found = problems(
        environment="prod",
        network={"azCount": 2, "natGateways": "single", "interfaceEndpoints": False, "flowLogRetentionDays": 90},
    )
    assert found == [
        "cryb-db:network.azCount = 2: must be 3 in prod",
        "cryb-db:network.natGateways = 'single': must be 'perAz' in prod",
        "cryb-db:network.interfaceEndpoints = False: must be true in prod",
        "cryb-db:network.flowLogRetentionDays = 90: must be at least 365 in prod",
    ]


def test_dev_may_be_small_and_cheap() -> None:
    config = parse(network={"azCount": 2, "natGateways": "single", "interfaceEndpoints": False})
    assert (config.network.az_count, config.network.nat_gateways) == (2, "single")


def test_defaults_are_the_secure_production_values() -> None:
    config = parse_stack_config({"cryb-db:environment": "prod", "cryb-db:selfhosted": PROD_SELFHOSTED})
    assert config.network.az_count == 3
    assert config.network.nat_gateways == "perAz"
    assert config.network.interface_endpoints is True
    assert config.network.flow_log_retention_days >= 365
    assert config.kms.deletion_window_days == 30
    assert config.postgres.port != 5432


def test_other_namespaces_belong_to_their_providers() -> None:
    config = parse_stack_config(
        {"cryb-db:environment": "dev", "aws:region": "eu-west-1", "aws:skipMetadataApiCheck": "x"}
    )
    assert config.environment == "dev"


def test_scalars_arrive_as_strings_from_the_engine() -> None:
    config = parse_stack_config({"cryb-db:environment": "dev", "cryb-db:network": '{"azCount": "2"}'})
    assert config.network.az_count == 2


def test_tags_carry_the_required_keys() -> None:
    tags = parse(owner="data-platform", tags={"cost-center": "42"}).tags_for("dev")
    assert tags["environment"] == "dev" and tags["owner"] == "data-platform" and tags["cost-center"] == "42"
    assert {"environment", "service", "owner", "data-classification"} <= set(tags)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_are_valid(stack: str) -> None:
    config = parse_stack_config(read_stack_file(stack_file_path(stack)).config)
    assert config.environment == stack


def prod_with(**sections: object) -> dict[str, str]:
    raw = {"cryb-db:environment": "prod", "cryb-db:selfhosted": PROD_SELFHOSTED}
    raw.update({f"cryb-db:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in sections.items()})
    return raw


ACK = "or set cryb-db:acknowledgeBurstableInProd: true"


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"postgres": {"instanceClass": "db.t4g.medium"}}, "cryb-db:postgres.instanceClass = 'db.t4g.medium'"),
        ({"cache": {"nodeType": "cache.t4g.small"}}, "cryb-db:cache.nodeType = 'cache.t4g.small'"),
        (
            {"cache": {"engine": "ec2", "ec2InstanceType": "t4g.small"}, "selfhosted": json.loads(PROD_SELFHOSTED)},
            "cryb-db:cache.ec2InstanceType = 't4g.small'",
        ),
    ],
)
def test_prod_refuses_burstable_classes_unless_acknowledged(sections: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(prod_with(**sections))
    burstable = [p for p in caught.value.problems if p.startswith(key)]
    assert burstable == [f"{key}: must be a non-burstable class in prod (CPU credits run out under steady load), {ACK}"]
    acknowledged = parse_stack_config(prod_with(**sections, acknowledgeBurstableInProd="true"))
    assert acknowledged.acknowledge_burstable_in_prod is True


def test_burstable_classes_not_in_use_are_not_refused() -> None:
    """The ec2 cache instance type matters only with engine ec2, the RDS class only without engine ec2."""
    config = parse_stack_config(prod_with(cache={"ec2InstanceType": "t4g.small"}))
    assert config.cache.engine == "elasticache"


def test_dev_may_be_burstable_without_acknowledging() -> None:
    config = parse(postgres={"instanceClass": "db.t4g.medium"}, cache={"nodeType": "cache.t4g.small"})
    assert config.acknowledge_burstable_in_prod is False


@pytest.mark.parametrize("node_type", ["cache.r7g.huge", "cache.t4g.zz", "cache.m7g.3xlarge"])
def test_malformed_cache_node_type_is_a_config_error(node_type: str) -> None:
    found = problems(cache={"nodeType": node_type})
    assert found == [
        f"cryb-db:cache.nodeType = {node_type!r}: must be cache.<family>.<size> with a known size: micro, small, "
        "medium, large, xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, 16xlarge"
    ]
