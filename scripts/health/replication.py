"""Replication checks of one shard: replicas streaming as expected and their lag, replication slots and the WAL
they retain, readers answering as current standbys."""

from .findings import Finding, crossed_limit, human_bytes
from .samples import ShardSample
from .thresholds import Status, Thresholds


def _status_at_least(status: Status, minimum: Status) -> Status:
    return max(status, minimum)


def evaluate_replication(sample: ShardSample, th: Thresholds) -> list[Finding]:
    """Replicas streaming as expected, their lag, slots and the WAL they retain, readers in recovery and current."""
    found: list[Finding] = []
    shard = sample.shard
    if sample.in_recovery:
        found.append(
            Finding(
                "replication",
                "writer-in-recovery",
                shard,
                "writer",
                Status.CRITICAL,
                "the writer endpoint "
                "answers as a standby (pg_is_in_recovery): a failover is in progress or the endpoint is wrong",
            )
        )
        return found
    hidden = [r for r in sample.replicas if not r.state]
    if hidden:
        # Without pg_monitor (or pg_read_all_stats) the state and LSN columns read as NULL.
        found.append(
            Finding(
                "replication",
                "replication-stats-hidden",
                shard,
                "pg_stat_replication",
                Status.WARNING,
                f"{len(hidden)} replica(s) visible without state or lag: grant pg_monitor to the health user",
            )
        )
    streaming = [r for r in sample.replicas if r.state in ("streaming", "")]
    if sample.expected_replicas is not None and len(streaming) < sample.expected_replicas:
        found.append(
            Finding(
                "replication",
                "replicas-missing",
                shard,
                "replicas",
                Status.CRITICAL,
                f"{len(streaming)} of {sample.expected_replicas} expected replicas are streaming: a replica is down "
                "or disconnected",
                value=len(streaming),
                threshold=sample.expected_replicas,
            )
        )
    for replica in sample.replicas:
        subject = replica.name or replica.client
        if replica.state not in ("streaming", ""):
            found.append(
                Finding(
                    "replication",
                    "replica-not-streaming",
                    shard,
                    subject,
                    Status.WARNING,
                    f"replica state is {replica.state!r}, not streaming",
                    value=replica.state,
                )
            )
        if replica.lag_bytes is not None:
            status = th.replica_lag_bytes.status(replica.lag_bytes)
            if status:
                found.append(
                    Finding(
                        "replication",
                        "replica-lag-bytes",
                        shard,
                        subject,
                        status,
                        f"{human_bytes(replica.lag_bytes)} of WAL not yet replayed",
                        value=replica.lag_bytes,
                        threshold=crossed_limit(th.replica_lag_bytes, status),
                    )
                )
        if replica.lag_seconds is not None:
            status = th.replica_lag_seconds.status(replica.lag_seconds)
            if status:
                found.append(
                    Finding(
                        "replication",
                        "replica-lag-seconds",
                        shard,
                        subject,
                        status,
                        f"replay is {replica.lag_seconds:.1f} s behind",
                        value=round(replica.lag_seconds, 3),
                        threshold=crossed_limit(th.replica_lag_seconds, status),
                    )
                )
    for slot in sample.slots:
        retained = slot.retained_bytes or 0
        status = th.slot_retained_bytes.status(retained)
        if not slot.active:
            status = _status_at_least(status, Status.WARNING)
        if status:
            state = "inactive" if not slot.active else "active"
            found.append(
                Finding(
                    "replication",
                    "inactive-slot" if not slot.active else "slot-retained-wal",
                    shard,
                    slot.name,
                    status,
                    f"{state} {slot.slot_type} slot retains {human_bytes(retained)} of WAL"
                    + (" (drop it if its consumer is gone)" if not slot.active else ""),
                    value=retained,
                    threshold=crossed_limit(th.slot_retained_bytes, status),
                )
            )
    for reader in sample.readers:
        if not reader.reachable:
            found.append(
                Finding(
                    "replication",
                    "reader-unreachable",
                    shard,
                    reader.endpoint,
                    Status.CRITICAL,
                    f"cannot connect to the reader: {reader.error}",
                )
            )
            continue
        if reader.in_recovery is False:
            found.append(
                Finding(
                    "replication",
                    "reader-not-standby",
                    shard,
                    reader.endpoint,
                    Status.CRITICAL,
                    "the reader answers as a primary: it was promoted or split from the writer",
                )
            )
        if reader.lag_seconds is not None and (status := th.replica_lag_seconds.status(reader.lag_seconds)):
            found.append(
                Finding(
                    "replication",
                    "reader-lag-seconds",
                    shard,
                    reader.endpoint,
                    status,
                    f"the last replayed transaction is {reader.lag_seconds:.1f} s old with WAL pending",
                    value=round(reader.lag_seconds, 3),
                    threshold=crossed_limit(th.replica_lag_seconds, status),
                )
            )
        if reader.lag_bytes is not None and (status := th.replica_lag_bytes.status(reader.lag_bytes)):
            found.append(
                Finding(
                    "replication",
                    "reader-lag-bytes",
                    shard,
                    reader.endpoint,
                    status,
                    f"{human_bytes(reader.lag_bytes)} received but not replayed",
                    value=reader.lag_bytes,
                    threshold=crossed_limit(th.replica_lag_bytes, status),
                )
            )
    return found
