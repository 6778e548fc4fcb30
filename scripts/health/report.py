"""The health report: every check over every shard, the worst status, and the JSON document (`--json`) with the
raw figures of each shard beside the findings."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .balance import balance
from .findings import Finding, redact_query, worst
from .performance import cache_hit_ratio, evaluate_performance
from .replication import evaluate_replication
from .samples import ShardSample
from .thresholds import Status, Thresholds


def shard_document(sample: ShardSample) -> dict[str, Any]:
    """The raw figures of a shard for `--json` (findings say what is wrong; this says what was seen)."""
    ratio = cache_hit_ratio(sample)
    return {
        "shard": sample.shard,
        "reachable": sample.reachable,
        "error": sample.error,
        "replication": {
            "inRecovery": sample.in_recovery,
            "expectedReplicas": sample.expected_replicas,
            "replicas": [
                {
                    "name": r.name,
                    "client": r.client,
                    "state": r.state,
                    "syncState": r.sync_state,
                    "lagBytes": r.lag_bytes,
                    "lagSeconds": r.lag_seconds,
                }
                for r in sample.replicas
            ],
            "slots": [
                {
                    "name": s.name,
                    "type": s.slot_type,
                    "active": s.active,
                    "retainedBytes": s.retained_bytes,
                    "walStatus": s.wal_status,
                }
                for s in sample.slots
            ],
            "readers": [
                {
                    "endpoint": r.endpoint,
                    "reachable": r.reachable,
                    "inRecovery": r.in_recovery,
                    "lagBytes": r.lag_bytes,
                    "lagSeconds": r.lag_seconds,
                    "error": r.error,
                }
                for r in sample.readers
            ],
        },
        "size": {"bytes": sample.size_bytes, "rows": sample.live_rows},
        "performance": {
            "cacheHitRatio": None if ratio is None else round(ratio, 4),
            "sessions": len(sample.sessions),
            "idleInTransaction": sum(1 for s in sample.sessions if s.state.startswith("idle in transaction")),
            "lockWaits": len(sample.lock_waits),
            "xidAge": sample.xid_age,
            "unusedIndexes": [
                {"index": f"{i.table_name}.{i.name}", "sizeBytes": i.size_bytes} for i in sample.unused_indexes
            ],
            "topStatements": None
            if sample.statements is None
            else [
                {
                    "queryId": s.query_id,
                    "calls": s.calls,
                    "totalMs": round(s.total_ms, 1),
                    "meanMs": round(s.mean_ms, 3),
                    "rows": s.rows,
                    "query": redact_query(s.query, 200),
                }
                for s in sample.statements
            ],
            "topStatementsNote": sample.statements_note,
        },
    }


@dataclass(frozen=True)
class Report:
    status: Status
    findings: list[Finding]
    document: dict[str, Any]


def evaluate(samples: Sequence[ShardSample], th: Thresholds) -> Report:
    """Every check over every shard; the report's status is the worst finding's."""
    findings: list[Finding] = []
    for sample in samples:
        if not sample.reachable:
            findings.append(
                Finding(
                    "connectivity",
                    "writer-unreachable",
                    sample.shard,
                    "writer",
                    Status.CRITICAL,
                    f"cannot connect to the writer: {sample.error}",
                )
            )
            continue
        findings += evaluate_replication(sample, th)
        findings += evaluate_performance(sample, th)
    balance_document, balance_findings = balance(samples, th)
    findings += balance_findings
    status = worst(f.status for f in findings)
    order = {"connectivity": 0, "replication": 1, "balance": 2, "performance": 3}
    findings.sort(key=lambda f: (-f.status, order[f.check], f.shard, f.name, f.subject))
    document = {
        "status": status.label,
        "exitCode": int(status),
        "shards": [shard_document(s) for s in samples],
        "balance": balance_document,
        "findings": [f.document() for f in findings],
        "thresholds": th.model_dump(by_alias=True),
    }
    return Report(status, findings, document)
