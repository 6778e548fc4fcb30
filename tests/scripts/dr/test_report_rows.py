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
