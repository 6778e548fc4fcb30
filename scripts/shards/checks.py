"""The bounds a move checks before it starts: free storage on both shards and their replication lag."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from cryb_db_client.contract import Shard

GIB = 1024**3


@dataclass(frozen=True)
class Bounds:
    min_free_gb: float = 1.0
    """Free storage each shard keeps on top of what the move adds (2x the moving data on the target: the copy and
    its WAL; the source keeps WAL for the slot)."""
    max_lag_seconds: float = 30.0
    """Replay lag of either shard's replicas."""
    assume_free_gb: float | None = None
    """Free storage to assume where it cannot be measured (neither CloudWatch nor a local data directory)."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def local_free_bytes(conn: psycopg.Connection, shard: Shard) -> int | None:
    """A server on this machine: the free space of the file system that holds its data directory."""
    if not _is_loopback(shard.direct_writer.host):
        return None
    try:
        row = conn.execute("select current_setting('data_directory')").fetchone()
    except psycopg.Error:
        return None
    path = str(row[0]) if row else ""
    try:
        stat = os.statvfs(path)
    except OSError:
        try:
            stat = os.statvfs(os.path.dirname(path))
        except OSError:
            return None
    return stat.f_bavail * stat.f_frsize


def cloudwatch_free_bytes(shard: Shard) -> int | None:
    """RDS: the lowest FreeStorageSpace of the last 15 minutes (instance, else cluster)."""
    import boto3

    client = boto3.client("cloudwatch", region_name=shard.region)
    now = datetime.datetime.now(datetime.UTC)
    for dimension in ("DBInstanceIdentifier", "DBClusterIdentifier"):
        points = client.get_metric_statistics(
            Namespace="AWS/RDS",
            MetricName="FreeStorageSpace",
            Dimensions=[{"Name": dimension, "Value": shard.name}],
            StartTime=now - datetime.timedelta(minutes=15),
            EndTime=now,
            Period=300,
            Statistics=["Minimum"],
        )["Datapoints"]
        if points:
            return int(min(p["Minimum"] for p in points))
    return None


def free_bytes(conn: psycopg.Connection, shard: Shard, bounds: Bounds) -> int | None:
    measured = local_free_bytes(conn, shard)
    if measured is None:
        try:
            measured = cloudwatch_free_bytes(shard)
        except Exception:  # noqa: BLE001 - no AWS access: treated as unknown
            measured = None
    if measured is None and bounds.assume_free_gb is not None:
        measured = int(bounds.assume_free_gb * GIB)
    return measured


def replication_lag_seconds(conn: psycopg.Connection) -> float:
    """The largest replay lag of the server's physical replicas (moves' own walsenders excluded)."""
    row = conn.execute(
        "select coalesce(max(extract(epoch from replay_lag)), 0)::float8 from pg_stat_replication "
        "where application_name not like 'cryb_move_%'"
    ).fetchone()
    return float(row[0]) if row else 0.0


def problems(
    conns: dict[str, tuple[psycopg.Connection, Shard]],
    moving_bytes: int,
    bounds: Bounds,
    measure: Callable[[psycopg.Connection, Shard, Bounds], int | None] = free_bytes,
) -> list[str]:
    """conns: role (`source`, `target`) -> (connection, shard)."""
    found = []
    for role, (conn, shard) in conns.items():
        need = int(bounds.min_free_gb * GIB) + (2 * moving_bytes if role == "target" else 0)
        free = measure(conn, shard, bounds)
        if free is None:
            found.append(
                f"{role} shard {shard.id} ({shard.name}): free storage unknown (no CloudWatch datapoint, not a local "
                f"server); pass --assume-free-gb after checking it"
            )
        elif free < need:
            found.append(
                f"{role} shard {shard.id} ({shard.name}): {free / GIB:.1f} GiB free, "
                f"the move needs {need / GIB:.1f} GiB "
                f"(--min-free-gb {bounds.min_free_gb:g} + 2 x {moving_bytes / GIB:.2f} GiB on the target)"
            )
        lag = replication_lag_seconds(conn)
        if lag > bounds.max_lag_seconds:
            found.append(
                f"{role} shard {shard.id} ({shard.name}): replication lag {lag:.1f} s > --max-lag-seconds "
                f"{bounds.max_lag_seconds:g}"
            )
    return found
