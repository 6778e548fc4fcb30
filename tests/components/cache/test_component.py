"""The cache component on the recorded graph of the real program, both engines and both stacks, plus the config
rules of issue 4."""

import base64
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.cache.component import elasticache_node_groups
from components.cache.redis_conf import ACCESS_STRINGS
from components.config import ConfigError, parse_stack_config
from components.config.cache import cache_stack_problems
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, RecordedResource, evaluate
from scripts.preview.stack_files import read_stack_file, stack_file_path
from tests.helpers import without_standby, write_config

# The documented contract of the `cache` output (docs/outputs.schema.json), checked against both engines.
CACHE_SCHEMA: dict[str, Any] = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())["properties"][
    "cache"
]

DEV_CACHE = {
    "shards": 1,
    "replicasPerShard": 1,
    "snapshotRetentionDays": 1,
    "nodeType": "cache.t4g.small",
    "ec2InstanceType": "t4g.small",
    "logRetentionDays": 30,
}
# Types the provider cannot tag; everything else a component creates must carry the stack's tags.
UNTAGGABLE = {
    "random:index/randomPassword:RandomPassword",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:cloudwatch/eventTarget:EventTarget",
}
REQUIRED_TAGS = ("environment", "service", "owner", "data-classification")
# Every mock RandomPassword result ends with it (scripts/preview/mock_engine.py).
MOCK_PASSWORD_MARK = "-pw-5ecret0000000000"


@pytest.fixture(scope="module")
def evaluate_cache(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, dict[str, Any]], Evaluation]:
    """Evaluate the real program for a stack with `cryb-db:cache` replaced; results are memoized."""
    done: dict[str, Evaluation] = {}

    def run(stack: str, cache: dict[str, Any]) -> Evaluation:
        key = json.dumps([stack, cache], sort_keys=True)
        if key not in done:
            config_dir = tmp_path_factory.mktemp("config")
            done[key] = evaluate(stack, write_config(config_dir, stack, {"cryb-db:cache": cache}))
        return done[key]

    return run


@pytest.fixture(scope="module")
def prod_ec(evaluate_cache: Callable[[str, dict[str, Any]], Evaluation]) -> Evaluation:
    return evaluate_cache("prod", {})


@pytest.fixture(scope="module")
def dev_ec(evaluate_cache: Callable[[str, dict[str, Any]], Evaluation]) -> Evaluation:
    return evaluate_cache("dev", DEV_CACHE)


@pytest.fixture(scope="module")
def prod_ec2(evaluate_cache: Callable[[str, dict[str, Any]], Evaluation]) -> Evaluation:
    return evaluate_cache("prod", {"engine": "ec2"})


@pytest.fixture(scope="module")
def dev_ec2(evaluate_cache: Callable[[str, dict[str, Any]], Evaluation]) -> Evaluation:
    return evaluate_cache("dev", {**DEV_CACHE, "engine": "ec2"})


@pytest.fixture(params=["prod_ec", "dev_ec", "prod_ec2", "dev_ec2"])
def each(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


def component(evaluation: Evaluation) -> RecordedResource:
    (cache,) = evaluation.of_type("cryb:cache:Cache")
    return cache


def descendants(evaluation: Evaluation) -> list[RecordedResource]:
    root = component(evaluation)
    return [r for r in evaluation.resources if any(a.urn == root.urn for a in evaluation.ancestors(r))]


def ours(evaluation: Evaluation, type_token: str) -> list[RecordedResource]:
    """Resources of a type that the cache component created (other components use the same types)."""
    return [r for r in descendants(evaluation) if r.type == type_token]


def one(evaluation: Evaluation, type_token: str) -> RecordedResource:
    (resource,) = ours(evaluation, type_token)
    return resource


def node(evaluation: Evaluation, type_token: str, index: int) -> RecordedResource:
    (resource,) = [r for r in ours(evaluation, type_token) if r.name == f"cryb-{evaluation.stack}-cache-node-{index}"]
    return resource


def key_arn(evaluation: Evaluation, purpose: str) -> str:
    return evaluation.outputs["kmsKeyArns"][purpose]


# -- both engines, both stacks ---------------------------------------------------------------------------------
def test_children_are_parented_named_and_tagged(each: Evaluation) -> None:
    root = component(each)
    children = descendants(each)
    assert children and all(c.parent == root.urn for c in children)
    assert all(c.name.startswith(f"{root.name}-") for c in children)
    for child in children:
        if child.type in UNTAGGABLE:
            continue
        tags = child.inputs.get("tags") or {}
        assert all(tags.get(k) for k in REQUIRED_TAGS), f"{child.type} {child.name} lacks tags: {tags}"


def test_no_password_reaches_inputs_or_outputs_in_clear(each: Evaluation) -> None:
    for resource in each.resources:
        assert MOCK_PASSWORD_MARK not in json.dumps(resource.masked_inputs()), resource.name
    assert MOCK_PASSWORD_MARK not in json.dumps(each.masked_outputs())
    versions = each.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert versions and all("secretString" in v.secret_paths for v in versions)


def test_user_secrets_are_encrypted_with_the_secrets_key(each: Evaluation) -> None:
    secrets = [s for s in each.of_type("aws:secretsmanager/secret:Secret") if s.parent == component(each).urn]
    assert secrets and all(s.inputs["kmsKeyId"] == key_arn(each, "secrets") for s in secrets)
    assert all(s.inputs["recoveryWindowInDays"] == 30 for s in secrets)
    users = {s.inputs["tags"]["cache-user"] for s in secrets if "cache-user" in s.inputs["tags"]}
    assert users >= {"app", "reader"}


def test_outputs_follow_the_documented_schema(each: Evaluation) -> None:
    jsonschema.Draft202012Validator.check_schema(CACHE_SCHEMA)
    jsonschema.Draft202012Validator(CACHE_SCHEMA).validate(each.masked_outputs()["cache"])
    cache = each.outputs["cache"]
    for user, arn in cache["secretArns"].items():
        secret = each.by_id(f"cryb-{each.stack}-cache-{user}-id")
        assert secret is not None and arn.endswith(f"/cryb-{each.stack}-cache-{user}")
    assert cache["userNames"] == {"app": "app", "reader": "reader"}


def test_schema_rejects_a_broken_contract(prod_ec: Evaluation, prod_ec2: Evaluation) -> None:
    validator = jsonschema.Draft202012Validator(CACHE_SCHEMA)
    managed = json.loads(json.dumps(prod_ec.masked_outputs()["cache"]))
    managed["configurationEndpoint"] = None
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(managed)
    selfhosted = json.loads(json.dumps(prod_ec2.masked_outputs()["cache"]))
    selfhosted["nodes"] = []
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(selfhosted)


# -- ElastiCache ---------------------------------------------------------------------------------------------
def test_prod_is_a_six_node_valkey_cluster_with_failover_and_encryption(prod_ec: Evaluation) -> None:
    rg = one(prod_ec, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert (rg["engine"], rg["engineVersion"], rg["clusterMode"]) == ("valkey", "8.1", "enabled")
    assert (rg["numNodeGroups"], rg["replicasPerNodeGroup"]) == (3, 1)
    assert rg["automaticFailoverEnabled"] is True and rg["multiAzEnabled"] is True
    assert rg["atRestEncryptionEnabled"] is True and rg["kmsKeyId"] == key_arn(prod_ec, "data")
    assert rg["transitEncryptionEnabled"] is True and rg["transitEncryptionMode"] == "required"
    assert rg["autoMinorVersionUpgrade"] is True
    # placed by the program: first in the quiet hours, maintenance the day after the last shard's (Wednesday)
    assert (rg["snapshotRetentionLimit"], rg["snapshotWindow"], rg["maintenanceWindow"]) == (
        7,
        "03:00-04:00",
        "thu:08:00-thu:09:00",
    )
    assert rg["finalSnapshotIdentifier"] == "cryb-prod-cache-final"
    assert rg["dataTieringEnabled"] is False and rg["port"] == 6379
    assert "authToken" not in rg and "notificationTopicArn" not in rg  # RBAC; events go through EventBridge
    assert len(elasticache_node_groups(rg["replicationGroupId"], 3, 1)) * 2 == 6


def test_replication_group_uses_the_networks_subnet_group_and_sg(prod_ec: Evaluation) -> None:
    rg = one(prod_ec, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    (subnet_group,) = without_standby(prod_ec).of_type("aws:elasticache/subnetGroup:SubnetGroup")  # not the DR VPC's
    assert subnet_group.parent == prod_ec.named("cryb-prod").urn  # the network's, not one of our own
    assert rg["subnetGroupName"] == subnet_group.name  # mocks echo the (auto-)name as the logical name
    assert rg["securityGroupIds"] == [prod_ec.named("cryb-prod-cache-sg").id]


def test_parameter_group_matches_the_version_and_enables_cluster_mode(prod_ec: Evaluation) -> None:
    rg = one(prod_ec, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    params = one(prod_ec, "aws:elasticache/parameterGroup:ParameterGroup").inputs
    assert rg["parameterGroupName"] == one(prod_ec, "aws:elasticache/parameterGroup:ParameterGroup").name
    assert params["family"] == "valkey8"
    assert {p["name"]: p["value"] for p in params["parameters"]} == {
        "cluster-enabled": "yes",
        "maxmemory-policy": "volatile-lru",
    }


def test_rbac_app_and_reader_with_passwords_and_the_default_user_off(prod_ec: Evaluation) -> None:
    rg = one(prod_ec, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    group = one(prod_ec, "aws:elasticache/userGroup:UserGroup")
    assert rg["userGroupIds"] == [group.id] and group.inputs["engine"] == "valkey"
    users = {u.inputs["userName"]: u for u in prod_ec.of_type("aws:elasticache/user:User")}
    assert set(users) == {"default", "app", "reader"}
    assert sorted(group.inputs["userIds"]) == sorted(u.inputs["userId"] for u in users.values())
    assert users["default"].inputs["accessString"].startswith("off")
    assert users["default"].inputs["userId"] != "default"  # a replacement for AWS's built-in open default user
    for name in ("app", "reader"):
        assert users[name].inputs["accessString"] == ACCESS_STRINGS[name]
    for user in users.values():
        assert user.inputs["authenticationMode"]["type"] == "password"
        assert any(p.startswith("authenticationMode") for p in user.secret_paths)


def test_slow_and_engine_logs_go_to_kms_encrypted_groups(prod_ec: Evaluation) -> None:
    rg = one(prod_ec, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    deliveries = {d["logType"]: d for d in rg["logDeliveryConfigurations"]}
    assert set(deliveries) == {"slow-log", "engine-log"}
    for kind, delivery in deliveries.items():
        group = prod_ec.named(f"cryb-prod-cache-{kind}").inputs
        assert delivery["destination"] == group["name"] and delivery["destinationType"] == "cloudwatch-logs"
        assert group["kmsKeyId"] == key_arn(prod_ec, "logs") and group["retentionInDays"] == 365


def test_elasticache_events_reach_the_alerts_topic(prod_ec: Evaluation) -> None:
    rule = one(prod_ec, "aws:cloudwatch/eventRule:EventRule")
    target = one(prod_ec, "aws:cloudwatch/eventTarget:EventTarget").inputs
    assert json.loads(rule.inputs["eventPattern"]) == {"source": ["aws.elasticache"]}
    assert target["arn"] == prod_ec.outputs["alertTopicArns"]["warning"]
    assert target["rule"] == rule.name


def test_dev_is_one_shard_with_a_replica_and_one_day_of_snapshots(dev_ec: Evaluation) -> None:
    rg = one(dev_ec, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert (rg["numNodeGroups"], rg["replicasPerNodeGroup"], rg["snapshotRetentionLimit"]) == (1, 1, 1)
    assert rg["nodeType"] == "cache.t4g.small"
    assert rg["automaticFailoverEnabled"] is True and rg["multiAzEnabled"] is True


def test_redis_oss_and_data_tiering_are_selectable(
    evaluate_cache: Callable[[str, dict[str, Any]], Evaluation],
) -> None:
    evaluation = evaluate_cache(
        "dev",
        {
            **DEV_CACHE,
            "engineFlavor": "redis",
            "engineVersion": "7.1",
            "nodeType": "cache.r6gd.xlarge",
            "dataTiering": True,
        },
    )
    rg = one(evaluation, "aws:elasticache/replicationGroup:ReplicationGroup").inputs
    assert (rg["engine"], rg["engineVersion"], rg["dataTieringEnabled"]) == ("redis", "7.1", True)
    assert one(evaluation, "aws:elasticache/parameterGroup:ParameterGroup").inputs["family"] == "redis7"
    assert {u.inputs["engine"] for u in evaluation.of_type("aws:elasticache/user:User")} == {"redis"}


# -- self-hosted on EC2 ------------------------------------------------------------------------------------------
def _user_data(evaluation: Evaluation, index: int) -> dict[str, Any]:
    lt = node(evaluation, "aws:ec2/launchTemplate:LaunchTemplate", index)
    text = gzip.decompress(base64.b64decode(lt.inputs["userData"])).decode()
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_ec2_engine_previews_one_instance_per_planned_node_and_no_elasticache(
    prod_ec2: Evaluation, dev_ec2: Evaluation
) -> None:
    assert len(prod_ec2.of_type("aws:ec2/instance:Instance")) == 6
    assert len(dev_ec2.of_type("aws:ec2/instance:Instance")) == 2
    assert not prod_ec2.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert not prod_ec2.of_type("aws:elasticache/user:User")
    nodes = prod_ec2.outputs["cache"]["nodes"]
    assert [n["name"] for n in nodes] == [
        "s0-master",
        "s1-master",
        "s2-master",
        "s0-replica1",
        "s1-replica1",
        "s2-replica1",
    ]
    assert len({n["address"] for n in nodes}) == 6


def cache_launch_templates(evaluation: Evaluation) -> list[RecordedResource]:
    """The cache nodes' launch templates (the prod stack also has self-hosted PostgreSQL nodes)."""
    templates = [
        lt
        for lt in evaluation.of_type("aws:ec2/launchTemplate:LaunchTemplate")
        if lt.name.startswith("cryb-prod-cache-")
    ]
    assert templates
    return templates


def test_launch_templates_are_locked_down(prod_ec2: Evaluation) -> None:
    for lt in cache_launch_templates(prod_ec2):
        i = lt.inputs
        assert i["metadataOptions"]["httpTokens"] == "required" and i["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (nic,) = i["networkInterfaces"]
        assert nic["associatePublicIpAddress"] == "false"
        assert nic["securityGroups"] == [prod_ec2.named("cryb-prod-cache-sg").id]
        (disk,) = i["blockDeviceMappings"]
        assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["kmsKeyId"] == key_arn(prod_ec2, "data")
        assert i["imageId"] == "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
        assert i["iamInstanceProfile"]["arn"].endswith("/cryb-prod-cache-node-profile")


def test_each_node_sits_in_its_planned_az_and_no_replica_shares_its_masters(prod_ec2: Evaluation) -> None:
    subnet_az = {s.id: s.inputs["availabilityZone"] for s in prod_ec2.of_type("aws:ec2/subnet:Subnet")}
    azs: dict[str, str] = {}
    for lt in cache_launch_templates(prod_ec2):
        (nic,) = lt.inputs["networkInterfaces"]
        assert prod_ec2.by_id(nic["subnetId"]).inputs["tags"]["tier"] == "data"  # type: ignore[union-attr]
        azs[lt.inputs["tags"]["cache-node"]] = subnet_az[nic["subnetId"]]
    for shard in range(3):
        assert azs[f"s{shard}-master"] != azs[f"s{shard}-replica1"]
    assert len({azs[f"s{s}-master"] for s in range(3)}) == 3


def test_node_zero_bootstraps_with_every_peer_address(prod_ec2: Evaluation) -> None:
    files = {f["path"]: f["content"] for f in _user_data(prod_ec2, 0)["write_files"]}
    bootstrap = files["/usr/local/sbin/cryb-cache-bootstrap"]
    hosts = bootstrap.split("HOSTS=(")[1].split(")")[0].split()
    addresses = {n["name"]: n["address"] for n in prod_ec2.outputs["cache"]["nodes"]}
    # Node 0 talks to itself over loopback and to every peer at the address EC2 gave it.
    assert hosts == ["127.0.0.1"] + [
        addresses[n] for n in ("s1-master", "s2-master", "s0-replica1", "s1-replica1", "s2-replica1")
    ]
    assert hosts[1] == node(prod_ec2, "aws:ec2/instance:Instance", 1).inputs.get("privateIp", hosts[1])
    assert "/usr/local/sbin/cryb-cache-bootstrap" not in [f["path"] for f in _user_data(prod_ec2, 3)["write_files"]]
    assert len(ours(prod_ec2, "aws:secretsmanager/secret:Secret")) == 6  # 4 users, tls-ca, tls-ca-cert


def test_node_role_reads_only_the_cache_secrets(prod_ec2: Evaluation) -> None:
    policy = json.loads(one(prod_ec2, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    read = next(s for s in policy["Statement"] if s["Sid"] == "ReadCacheSecrets")["Resource"]
    cache = prod_ec2.outputs["cache"]
    expected = [*cache["secretArns"].values(), cache["tlsCaCertSecretArn"]]
    assert set(expected) < set(read) and len(read) == 6  # the 4 users, the CA and its public certificate
    trust = json.loads(one(prod_ec2, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_node_rules_open_only_the_cache_and_bus_ports_between_nodes(prod_ec2: Evaluation) -> None:
    cache_sg = prod_ec2.named("cryb-prod-cache-sg").id
    ingress = [
        r.inputs
        for r in prod_ec2.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.parent == component(prod_ec2).urn
    ]
    assert sorted(r["fromPort"] for r in ingress) == [6379, 16379]
    assert all(r["referencedSecurityGroupId"] == cache_sg == r["securityGroupId"] for r in ingress)
    assert not any("cidrIpv4" in r for r in ingress)


# -- config rules (issue 4 item 5) --------------------------------------------------------------------------------
def prod_with_cache(cache: dict[str, Any]) -> dict[str, str]:
    config = dict(read_stack_file(stack_file_path("prod")).config)
    config["cryb-db:cache"] = json.dumps(cache)
    return config


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"transitEncryption": False}, "cryb-db:cache.transitEncryption = False: must be true"),
        ({"engineVersion": "6.0"}, "cryb-db:cache.engineVersion = '6.0': must be one of 7.2, 8.0, 8.1, 8.2"),
        ({"engineFlavor": "redis", "engineVersion": "8.1"}, "must be one of 6.2, 7.0, 7.1 for engineFlavor 'redis'"),
        ({"engine": "memcached"}, "cryb-db:cache.engine = 'memcached'"),
        ({"dataTiering": True}, "cryb-db:cache.dataTiering = True: needs a cache.r6gd.* nodeType"),
        ({"snapshotRetentionDays": 36}, "cryb-db:cache.snapshotRetentionDays = 36: must be <= 35"),
        (
            {"snapshotWindow": "03:00-04:00", "maintenanceWindow": "thu:03:30-thu:04:30"},
            "must not overlap snapshotWindow '03:00-04:00'",
        ),
        ({"replicasPerShard": 0}, "cryb-db:cache.replicasPerShard = 0: must be >= 1"),
        ({"engine": "ec2", "engineFlavor": "redis", "engineVersion": "7.1"}, "must be valkey with engine ec2"),
    ],
)
def test_invalid_cache_config_is_rejected_with_key_value_and_rule(cache: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(prod_with_cache(cache))
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_prod_rejects_one_shard_and_layouts_one_az_outage_breaks() -> None:
    config = parse_stack_config(prod_with_cache({}))
    assert cache_stack_problems(config.cache, config.postgres, "prod", 3) == []
    one_shard = config.cache.model_copy(update={"shards": 1})
    (problem,) = cache_stack_problems(one_shard, config.postgres, "prod", 3)
    assert problem.startswith("cryb-db:cache.shards = 1: must be at least 3 in prod")
    assert cache_stack_problems(one_shard, config.postgres, "dev", 2) == []  # dev accepts 1 x 1
    (two_azs,) = cache_stack_problems(config.cache, config.postgres, "prod", 2)
    assert "not a majority" in two_azs
    # StackConfig raises these joined by "; " and the error report splits them there again: one line each.
    assert "; " not in problem and "; " not in two_azs


def test_cache_windows_must_avoid_every_postgres_window() -> None:
    """Explicit cache windows stay as set; explicit PostgreSQL windows on top of them are refused, naming both keys."""
    config = prod_with_cache({"snapshotWindow": "06:00-07:00", "maintenanceWindow": "sun:10:30-sun:11:30"})
    placed = parse_stack_config(config).window_plan()
    assert (placed.cache_snapshot, placed.cache_maintenance) == ("06:00-07:00", "sun:10:30-sun:11:30")
    assert all(not s.backup.startswith("06:") for s in placed.shards)  # the shards' backups went around it

    postgres = json.loads(config["cryb-db:postgres"])
    config["cryb-db:postgres"] = json.dumps({**postgres, "backupWindowStart": "05:00"})
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(config)
    assert caught.value.problems == [
        "cryb-db:postgres.backupWindowStart = '05:00': the backup of shard 1 (06:00-07:00 daily) overlaps the cache "
        "snapshot (06:00-07:00 daily) set by cryb-db:cache.snapshotWindow"
    ]


def test_the_documented_dev_settings_parse(tmp_path: Path) -> None:
    config = parse_stack_config(
        {**read_stack_file(stack_file_path("dev")).config, "cryb-db:cache": json.dumps(DEV_CACHE)}
    )
    assert (config.cache.shards, config.cache.snapshot_retention_days) == (1, 1)
    assert cache_stack_problems(config.cache, config.postgres, "dev", config.network.az_count) == []


def test_the_policy_pack_finds_nothing_mandatory_in_the_cache(each: Evaluation) -> None:
    from scripts.preview.render import policy_report

    ours_urns = {r.urn for r in descendants(each)}
    found = [v for v in policy_report(each) if v["resource"] in ours_urns]
    # Nothing at all, advisory included: every secret rotates or is an exempt CA, every node has its alarms.
    assert found == []


def test_node_groups_describe_every_member_for_the_monitoring_component() -> None:
    groups = elasticache_node_groups("cryb-prod-cache", 3, 1)
    assert [g.node_group_id for g in groups] == ["0001", "0002", "0003"]
    assert groups[0].member_ids == ["cryb-prod-cache-0001-001", "cryb-prod-cache-0001-002"]
    (cpu, _) = groups[1].metric_engine_cpu_utilization()
    assert (cpu.namespace, cpu.metric_name, cpu.dimensions) == (
        "AWS/ElastiCache",
        "EngineCPUUtilization",
        {"CacheClusterId": "cryb-prod-cache-0002-001"},
    )
    assert [m.statistic for m in groups[2].metric_authentication_failures()] == ["Sum", "Sum"]
    assert len(groups[0].metric_replication_lag()) == 1


def test_every_self_hosted_node_has_the_alarm_set_on_the_metrics_its_agent_publishes(prod_ec2: Evaluation) -> None:
    """prod with `cache.engine: ec2` (3 shards x 1 replica on r7g-class nodes): each node's alarms watch exactly the
    namespace and {CacheCluster, Node} its rendered metrics-agent config publishes with; critical ones page through
    a composite per shard."""
    alarms = prod_ec2.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    checked = 0
    for instance in prod_ec2.of_type("aws:ec2/instance:Instance"):
        index = int(instance.name.rsplit("-", 1)[1])
        files = {f["path"]: f["content"] for f in _user_data(prod_ec2, index)["write_files"]}
        agent = json.loads(files["/etc/cryb-cache/metrics-agent.json"])
        assert (agent["cluster"], agent["node"]) == ("cryb-prod-cache", instance.inputs["tags"]["cache-node"])
        mine = {
            a.inputs["name"].removeprefix(f"cryb-prod-cache-{agent['node']}-"): a.inputs
            for a in alarms
            if a.inputs["tags"].get("monitors") == f"cryb-prod-cache-{agent['node']}"
        }
        expected = {"engine-cpu", "memory", "evictions", "connections", "auth-failures", "cluster-state", "node-out",
                    "replication-link"} | ({"replication-lag"} if "replica" in agent["node"] else set())  # fmt: skip
        cpu = mine.pop("cpu", None)  # r7g.large has 2 vCPUs: the host CPU alarm, on the instance (AWS/EC2)
        assert cpu is not None and cpu["namespace"] == "AWS/EC2" and set(cpu["dimensions"]) == {"InstanceId"}
        assert set(mine) == expected, agent["node"]
        for alarm in mine.values():
            assert alarm["namespace"] == agent["namespace"] == "cryb-db/cache"
            assert alarm["dimensions"] == {"CacheCluster": agent["cluster"], "Node": agent["node"]}
            checked += 1
    assert checked > 6 * 8
    composites = {c.inputs["alarmName"] for c in prod_ec2.of_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")}
    assert {f"cryb-prod-cache-s{shard}-unhealthy" for shard in range(3)} <= composites
