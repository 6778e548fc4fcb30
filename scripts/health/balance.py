"""Shard balance: each shard's size and row counts (and each table's) against the mean over the shards."""

from collections.abc import Sequence
from typing import Any

from .findings import Finding, crossed_limit, human_bytes
from .samples import ShardSample
from .thresholds import Status, Thresholds


def skew_percent(value: float, mean: float) -> float:
    """How far `value` is from `mean`, in percent of the mean (0 when the mean is 0)."""
    return 0.0 if mean == 0 else (value - mean) / mean * 100


def balance(samples: Sequence[ShardSample], th: Thresholds) -> tuple[dict[str, Any], list[Finding]]:
    """Size and row counts per shard (and per table) against the mean over shards."""
    live = [s for s in samples if s.reachable and not s.in_recovery]
    document: dict[str, Any] = {"shards": [], "tables": [], "evaluated": len(live) >= 2}
    found: list[Finding] = []
    if len(live) < 2:
        document["note"] = "balance needs at least two reachable shards"
        return document, found
    mean_size = sum(s.size_bytes for s in live) / len(live)
    mean_rows = sum(s.live_rows for s in live) / len(live)
    for sample in live:
        size_skew, rows_skew = skew_percent(sample.size_bytes, mean_size), skew_percent(sample.live_rows, mean_rows)
        document["shards"].append(
            {
                "shard": sample.shard,
                "sizeBytes": sample.size_bytes,
                "sizeSkewPercent": round(size_skew, 1),
                "rows": sample.live_rows,
                "rowsSkewPercent": round(rows_skew, 1),
            }
        )
        for name, skew, mean, minimum, what in (
            ("size-skew", size_skew, mean_size, th.min_bytes_for_skew, f"size {human_bytes(sample.size_bytes)}"),
            ("rows-skew", rows_skew, mean_rows, th.min_rows_for_skew, f"{sample.live_rows} rows"),
        ):
            status = th.shard_skew_percent.status(abs(skew)) if mean >= minimum else Status.OK
            if status:
                found.append(
                    Finding(
                        "balance",
                        name,
                        sample.shard,
                        "database",
                        status,
                        f"{what} is {skew:+.0f} % from the mean over {len(live)} shards: the shard map or the "
                        "key distribution is uneven",
                        value=round(skew, 1),
                        threshold=crossed_limit(th.shard_skew_percent, status),
                    )
                )
    tables = sorted({t.name for s in live for t in s.tables})
    for table in tables:
        rows = {s.shard: next((t.live_rows for t in s.tables if t.name == table), 0) for s in live}
        mean = sum(rows.values()) / len(live)
        skews = {shard: skew_percent(count, mean) for shard, count in rows.items()}
        document["tables"].append(
            {"table": table, "rows": rows, "skewPercent": {k: round(v, 1) for k, v in skews.items()}}
        )
        if mean < th.min_rows_for_skew:
            continue
        for shard, skew in skews.items():
            if status := th.shard_skew_percent.status(abs(skew)):
                found.append(
                    Finding(
                        "balance",
                        "table-skew",
                        shard,
                        table,
                        status,
                        f"{rows[shard]} rows, {skew:+.0f} % from the mean of {mean:.0f}",
                        value=round(skew, 1),
                        threshold=crossed_limit(th.shard_skew_percent, status),
                    )
                )
    return document, found
