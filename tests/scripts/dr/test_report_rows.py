"""The drill report's shard rows (scripts/dr/report.py): what the Markdown table says per shard."""

from scripts.dr.report import SHARD_HEADERS, ShardResult, _shard_row


def row(result: ShardResult) -> dict[str, str]:
    return dict(zip(SHARD_HEADERS, _shard_row(result), strict=True))


def test_a_drill_that_failed_before_restoring_names_no_scratch_instance() -> None:
    failed = ShardResult(shard="0", source_instance="cryb-prod-pg-00", scratch_instance="drill-0-20260501t030000z")
    failed.cleanup, failed.error = "not created", "RuntimeError: the target never became restorable"
    assert (row(failed)["scratch instance"], row(failed)["cleanup"]) == ("-", "not created")
    deleted = ShardResult(shard="0", source_instance="cryb-prod-pg-00", scratch_instance="drill-0-20260501t030000z")
    deleted.cleanup = "deleted"
    assert row(deleted)["scratch instance"] == "drill-0-20260501t030000z"


def test_the_json_report_uses_camel_case_and_keeps_aws_names() -> None:
    from scripts.dr.report import DrillReport

    shard = ShardResult(shard="0", source_instance="cryb-prod-pg-00", scratch_instance="drill-0-x")
    shard.rto_seconds, shard.restore_request = (
        12.5,
        {"TargetDBInstanceIdentifier": "drill-0-x", "UseLatestRestorableTime": False},
    )
    report = DrillReport("r1", "2026-05-01T03:00:00Z", None, "us-east-1", "outputs.json", {"poll_seconds": 20}, [shard])
    document = report.to_json()
    assert (document["runId"], document["outputsFile"], document["settings"]) == (
        "r1",
        "outputs.json",
        {"pollSeconds": 20},
    )
    assert document["summary"]["maxRtoSeconds"] == 12.5 and document["summary"]["scratchInstancesLeft"] == []
    assert document["shards"][0]["rtoSeconds"] == 12.5
    assert document["shards"][0]["restoreRequest"] == {
        "TargetDBInstanceIdentifier": "drill-0-x",
        "UseLatestRestorableTime": False,
    }
