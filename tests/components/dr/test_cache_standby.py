"""The cache's standby (dr.cacheGlobalDatastore) under the mock engine: a Global Datastore made from the primary
replication group, its secondary in the DR region (DR provider, DR key, DR data subnets, no public access, its own
users and alarms), the `dr.cache` outputs; prod ships without it; where it is not allowed the preview exits 2
naming the key before any resource exists."""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, RecordedResource
from scripts.preview.policy_runner import policy_config_file, run_policies
from tests.helpers import evaluate_with, write_config

GLOBAL = "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DR_REGION = "us-west-2"


@pytest.fixture(scope="module")
def with_cache_standby(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    return evaluate_with(tmp_path_factory.mktemp("gds"), "prod", {"cryb-db:dr": {"cacheGlobalDatastore": True}})


def region_of(evaluation: Evaluation, resource: RecordedResource) -> str:
    if resource.provider is None:
        return evaluation.config["aws:region"]
    return evaluation.named(resource.provider.split("::")[-2]).inputs["region"]


def test_prod_ships_without_it(prod: Evaluation) -> None:
    assert prod.of_type(GLOBAL) == [] and len(prod.of_type(GROUP)) == 1
    assert prod.outputs["dr"]["cache"] is None


def test_the_global_datastore_is_made_from_the_primary_group(with_cache_standby: Evaluation) -> None:
    ev = with_cache_standby
    (datastore,) = ev.of_type(GLOBAL)
    primary = ev.named("cryb-prod-cache-rg")
    assert datastore.inputs["primaryReplicationGroupId"] == primary.id
    assert region_of(ev, datastore) == "us-east-1"  # created where the primary is


def test_the_secondary_is_in_the_dr_region_encrypted_private_and_authenticated(with_cache_standby: Evaluation) -> None:
    ev = with_cache_standby
    secondary = ev.named("cryb-prod-cache-dr-rg")
    inputs = secondary.inputs
    assert region_of(ev, secondary) == DR_REGION
    assert inputs["globalReplicationGroupId"] == "ldgnf-cryb-prod-cache-dr-global"  # the datastore's id (mock)
    # inherited from the datastore, so not set (the provider refuses them on a secondary)
    for inherited in (
        "engine",
        "engineVersion",
        "nodeType",
        "numNodeGroups",
        "transitEncryptionEnabled",
        "atRestEncryptionEnabled",
        "parameterGroupName",
    ):
        assert inherited not in inputs, inherited
    assert inputs["kmsKeyId"].startswith(f"arn:aws:kms:{DR_REGION}:") and inputs["kmsKeyId"].endswith("-data")
    assert inputs["subnetGroupName"] == ev.named("cryb-prod-dr-cache").name
    (security_group,) = inputs["securityGroupIds"]
    assert security_group == ev.outputs["dr"]["network"]["securityGroupIds"]["cache"]
    assert (inputs["multiAzEnabled"], inputs["automaticFailoverEnabled"], inputs["replicasPerNodeGroup"]) == (
        True,
        True,
        1.0,
    )
    assert inputs["snapshotRetentionLimit"] == 7.0
    (user_group,) = inputs["userGroupIds"]
    group = next(g for g in ev.of_type("aws:elasticache/userGroup:UserGroup") if g.id == user_group)
    assert region_of(ev, group) == DR_REGION
    users = {
        u.inputs["userId"]: u
        for u in ev.of_type("aws:elasticache/user:User")
        if u.inputs["userId"] in group.inputs["userIds"]
    }
    assert sorted(u.inputs["userName"] for u in users.values()) == ["app", "default", "reader"]
    assert users["cryb-prod-cache-dr-default-off"].inputs["accessString"].startswith("off")
    for user in users.values():  # secrets in the state, never in a preview
        assert user.masked_inputs()["authenticationMode"] == {"type": "password", "passwords": ["[secret]"]}
    # the DR users start with the client users' first passwords (rotation changes the primary's only)
    primary_users = {
        u.inputs["userName"]: u
        for u in ev.of_type("aws:elasticache/user:User")
        if u.name.startswith("cryb-prod-cache-user-")
    }
    for name in ("app", "reader"):
        (dr_user,) = [u for u in users.values() if u.inputs["userName"] == name]
        assert dr_user.inputs["accessString"] == primary_users[name].inputs["accessString"]
        assert dr_user.inputs["authenticationMode"] == primary_users[name].inputs["authenticationMode"]


def test_every_secondary_node_has_the_cache_alarms_in_the_dr_region(with_cache_standby: Evaluation) -> None:
    ev = with_cache_standby
    alarms = [a for a in ev.of_type(ALARM) if a.name.startswith("cryb-prod-cache-dr-0")]
    nodes = {a.inputs["dimensions"]["CacheClusterId"] for a in alarms}
    assert nodes == {f"cryb-prod-cache-dr-{s:04d}-{m:03d}" for s in range(1, 4) for m in range(1, 3)}
    dr_topics = set(ev.outputs["dr"]["alertTopicArns"].values())
    for alarm in alarms:
        assert region_of(ev, alarm) == DR_REGION
        assert set(alarm.inputs["alarmActions"]) <= dr_topics
    metrics = {a.inputs["metricName"] for a in alarms}
    assert {"EngineCPUUtilization", "DatabaseMemoryUsagePercentage"} <= metrics


def test_the_outputs_name_the_standby_and_fit_the_contract(with_cache_standby: Evaluation) -> None:
    ev = with_cache_standby
    assert ev.outputs["dr"]["cache"] == {
        "kind": "elasticache-global-datastore",
        "globalReplicationGroupId": "ldgnf-cryb-prod-cache-dr-global",
        "replicationGroupId": "cryb-prod-cache-dr",
        "configurationEndpoint": "clustercfg.cryb-prod-cache-dr-rg.c0ffee.use1.cache.amazonaws.com",
        "port": 6379,
        "region": DR_REGION,
    }
    schema = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())
    jsonschema.validate(ev.outputs, schema)


def test_the_policy_pack_passes_it(with_cache_standby: Evaluation) -> None:
    assert run_policies(with_cache_standby, policy_config_file("prod")) == []


def test_where_it_is_not_allowed_the_preview_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = write_config(tmp_path, "dev", {"cryb-db:dr": {"cacheGlobalDatastore": True}})
    done = subprocess.run(
        [sys.executable, "-m", "scripts", "preview", "--stack", "dev", "--config", str(bad)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "cryb-db:dr.cacheGlobalDatastore = True: needs the warm standby" in " ".join(done.stderr.split())
