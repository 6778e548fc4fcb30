"""Performance checks of one shard: buffer cache hit ratio, long and idle-in-transaction sessions, lock waits,
transaction ID age, unused indexes and heavily sequentially scanned tables."""

from .findings import Finding, crossed_limit, human_bytes, redact_query
from .samples import ShardSample
from .thresholds import Status, Thresholds


def cache_hit_ratio(sample: ShardSample) -> float | None:
    total = sample.blks_hit + sample.blks_read
    return None if total == 0 else sample.blks_hit / total


def evaluate_performance(sample: ShardSample, th: Thresholds) -> list[Finding]:
    """Buffer cache, long and idle-in-transaction sessions, lock waits, XID age, unused indexes, heavy seq scans."""
    found: list[Finding] = []
    shard = sample.shard
    ratio = cache_hit_ratio(sample)
    if ratio is not None and sample.blks_hit + sample.blks_read >= th.min_blocks_for_hit_ratio:
        if status := th.cache_hit_ratio.status(ratio):
            found.append(
                Finding(
                    "performance",
                    "cache-hit-ratio",
                    shard,
                    "database",
                    status,
                    f"{ratio:.2%} of block reads hit shared buffers: the working set does not fit in memory",
                    value=round(ratio, 4),
                    threshold=crossed_limit(th.cache_hit_ratio, status),
                )
            )
    for session in sample.sessions:
        subject = f"pid {session.pid} ({session.user_name or '?'}@{session.application or '?'})"
        if session.state == "active" and (status := th.long_running_seconds.status(session.query_seconds)):
            found.append(
                Finding(
                    "performance",
                    "long-running",
                    shard,
                    subject,
                    status,
                    f"statement running for {session.query_seconds:.0f} s: {redact_query(session.query)}",
                    value=round(session.query_seconds, 1),
                    threshold=crossed_limit(th.long_running_seconds, status),
                )
            )
        if session.state.startswith("idle in transaction") and (
            status := th.idle_in_transaction_seconds.status(session.state_seconds)
        ):
            found.append(
                Finding(
                    "performance",
                    "idle-in-transaction",
                    shard,
                    subject,
                    status,
                    f"{session.state} for {session.state_seconds:.0f} s (transaction open "
                    f"{session.xact_seconds:.0f} s): it holds locks and stops vacuum",
                    value=round(session.state_seconds, 1),
                    threshold=crossed_limit(th.idle_in_transaction_seconds, status),
                )
            )
    for wait in sample.lock_waits:
        if status := th.lock_wait_seconds.status(wait.wait_seconds):
            found.append(
                Finding(
                    "performance",
                    "blocked-lock",
                    shard,
                    f"pid {wait.pid}",
                    status,
                    f"waiting {wait.wait_seconds:.0f} s for a lock held by pid(s) "
                    f"{', '.join(map(str, wait.blocking_pids)) or '?'}: {redact_query(wait.query)}",
                    value=round(wait.wait_seconds, 1),
                    threshold=crossed_limit(th.lock_wait_seconds, status),
                )
            )
    if status := th.xid_age.status(sample.xid_age):
        found.append(
            Finding(
                "performance",
                "xid-age",
                shard,
                sample.xid_database or "database",
                status,
                f"oldest unfrozen transaction ID is {sample.xid_age:,} transactions old: vacuum (freeze) is "
                "falling behind",
                value=sample.xid_age,
                threshold=crossed_limit(th.xid_age, status),
            )
        )
    for index in sample.unused_indexes:
        if index.size_bytes >= th.unused_index_bytes:
            found.append(
                Finding(
                    "performance",
                    "unused-index",
                    shard,
                    f"{index.table_name}.{index.name}",
                    Status.WARNING,
                    f"never scanned since statistics were reset, {human_bytes(index.size_bytes)}: it costs every write",
                    value=index.size_bytes,
                    threshold=th.unused_index_bytes,
                )
            )
    for table in sample.tables:
        scans = table.seq_scan + table.idx_scan
        if table.live_rows >= th.seq_scan_min_rows and scans and table.seq_scan / scans > th.seq_scan_share:
            found.append(
                Finding(
                    "performance",
                    "heavy-seq-scans",
                    shard,
                    table.name,
                    Status.WARNING,
                    f"{table.seq_scan} of {scans} scans of {table.live_rows} rows are sequential "
                    f"({table.seq_tup_read} rows read): a missing index?",
                    value=round(table.seq_scan / scans, 3),
                    threshold=th.seq_scan_share,
                )
            )
    return found
