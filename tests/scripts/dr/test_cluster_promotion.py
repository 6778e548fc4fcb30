"""`dr promote-region`'s standby-cluster side without servers: the targets the prod outputs name, the alarms it
enables (moto), the outputs it writes (against the contract's schema). The promotion itself runs against booted
clusters in tests/real/sandbox/test_region_failover.py."""

import json
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

from scripts import PROJECT_DIR
from scripts.dr.cluster_promotion import (
    cluster_targets_from_outputs,
    enable_cluster_alarms,
    promoted_cluster_entries,
)
from scripts.dr.planning import OutputsError
from scripts.preview.mock_engine import Evaluation

SCHEMA = json.loads((PROJECT_DIR / "docs" / "outputs.schema.json").read_text())


def test_prod_outputs_name_the_analytics_standby_cluster(prod: Evaluation) -> None:
    (target,) = cluster_targets_from_outputs(prod.outputs)
    assert (target.name, target.source, target.standby_identifier) == (
        "analytics",
        "cryb-prod-analytics",
        "cryb-prod-dr-analytics",
    )
    assert target.region == "us-west-2" and len(target.node_addresses) == 3
    assert ":us-west-2:" in target.rest_api_secret_arn and target.rest_api_secret_arn.endswith("-restapi")
    assert target.alarm_prefix == "cryb-prod-dr-analytics"


def test_outputs_without_a_standby_cluster_or_with_a_broken_one() -> None:
    assert cluster_targets_from_outputs({"dr": None}) == []
    with pytest.raises(OutputsError, match=r"outputs.dr.clusters\[0\] lacks 'restApiSecretArn'"):
        entry = {"name": "analytics", "source": "x", "standbyIdentifier": "y", "region": "us-west-2", "nodes": [],
                 "port": 5432, "databaseName": "cryb", "secretArn": "s"}  # fmt: skip
        cluster_targets_from_outputs({"dr": {"clusters": [entry]}})


def test_the_promoted_outputs_point_the_cluster_at_its_standby_and_keep_the_contract(prod: Evaluation) -> None:
    targets = cluster_targets_from_outputs(prod.outputs)
    promoted = promoted_cluster_entries(prod.outputs, targets)
    (cluster,) = promoted["selfhosted"]["clusters"]
    assert cluster["writerEndpoint"] == "writer.analytics.prod-dr.cryb-db.internal"
    assert cluster["region"] == "us-west-2"
    assert cluster["backupPrefix"] == "pgbackrest-analytics-dr"
    assert cluster["promotedFrom"] == {"region": "us-east-1", "identifier": "cryb-prod-analytics"}
    assert cluster["nodes"] == prod.outputs["dr"]["clusters"][0]["nodes"]
    assert prod.outputs["selfhosted"]["clusters"][0]["region"] == "us-east-1"  # the input is not changed
    schema = {**SCHEMA["properties"]["selfhosted"], "$defs": SCHEMA["$defs"]}
    cluster_without_mark = {k: v for k, v in cluster.items() if k != "promotedFrom"}
    jsonschema.validate({"clusters": [cluster_without_mark]}, schema)


@mock_aws
def test_the_alarm_step_enables_exactly_the_standby_clusters_alarms(prod: Evaluation) -> None:
    (target,) = cluster_targets_from_outputs(prod.outputs)
    cloudwatch = boto3.client("cloudwatch", region_name="us-west-2")
    for name in ("cryb-prod-dr-analytics-node-a-cpu", "cryb-prod-dr-analytics-no-writer", "cryb-prod-dr-analyticsx"):
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average", Period=60,
            EvaluationPeriods=1, Threshold=90, ComparisonOperator="GreaterThanThreshold", ActionsEnabled=False,
        )  # fmt: skip

    def clients(service: str, region: str) -> Any:
        return boto3.client(service, region_name=region)

    assert enable_cluster_alarms(target, clients) == {"enabled": 2}
    enabled = {a["AlarmName"]: a["ActionsEnabled"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert enabled == {
        "cryb-prod-dr-analytics-node-a-cpu": True,
        "cryb-prod-dr-analytics-no-writer": True,
        "cryb-prod-dr-analyticsx": False,  # another name that merely starts alike
    }
