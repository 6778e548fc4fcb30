"""`dr promote-region` for the self-hosted clusters: promote each Patroni standby cluster in the DR region
(docs/disaster-recovery.md#the-patroni-standby-cluster). Steps per cluster, each journaled like the RDS steps:

* `cluster-preflight`: a standby leader answers on Patroni's REST API; how far behind its replay is (the age of the
  last replayed transaction, the RPO estimate); refuses above `max_lag_seconds` unless `force`;
* `cluster-promote`: removes `standby_cluster` from the DCS configuration (`PATCH /config`, what
  `patronictl edit-config` does), then waits for a leader that answers `GET /primary` with 200;
* `cluster-alarms`: enables the actions of the cluster's alarms (declared with actions off while it was a standby);
* `cluster-verify-writes`: a write on the new leader, read back.

Backups switch themselves on at promotion: archive_mode archives only on a primary, the leader callback creates the
stanza in the cluster's own prefix when its role becomes primary, and the backup timer runs on `/primary` only.

Patroni's REST API is reached through a `PatroniRest` (urllib with the REST credentials in the CLI; the sandbox drill
runs the same requests from inside a node)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .planning import OutputsError
from .promotion import Clients, Log, PromotionError, PromotionSettings
from .promotion_plan import Journal

CLUSTER_STEPS = ("cluster-preflight", "cluster-promote", "cluster-alarms", "cluster-verify-writes")
RESTAPI_PORT = 8008


@dataclass(frozen=True)
class StandbyClusterTarget:
    """One self-hosted cluster's standby cluster, from `outputs.dr.clusters[]`."""

    name: str
    source: str
    standby_identifier: str
    region: str
    node_addresses: tuple[str, ...]
    port: int
    database: str
    secret_arn: str
    rest_api_secret_arn: str
    writer_endpoint: str
    reader_endpoints: tuple[str, ...]
    alarm_prefix: str

    @property
    def key(self) -> str:
        """The journal's key of this cluster (shards are journaled by number)."""
        return f"cluster:{self.name}"


def cluster_targets_from_outputs(document: Any) -> list[StandbyClusterTarget]:
    """Every standby cluster of `outputs.dr.clusters` (empty when the stack has none)."""
    dr = document.get("dr") if isinstance(document, dict) else None
    if not isinstance(dr, dict):
        return []
    targets = []
    for index, entry in enumerate(dr.get("clusters") or []):
        try:
            targets.append(
                StandbyClusterTarget(
                    name=str(entry["name"]),
                    source=str(entry["source"]),
                    standby_identifier=str(entry["standbyIdentifier"]),
                    region=str(entry["region"]),
                    node_addresses=tuple(str(n["address"]) for n in entry["nodes"]),
                    port=int(entry["port"]),
                    database=str(entry["databaseName"]),
                    secret_arn=str(entry["secretArn"]),
                    rest_api_secret_arn=str(entry["restApiSecretArn"]),
                    writer_endpoint=str(entry["writerEndpoint"]),
                    reader_endpoints=tuple(str(r) for r in entry["readerEndpoints"]),
                    alarm_prefix=str(entry["alarmPrefix"]),
                )
            )
        except (KeyError, TypeError) as exc:
            raise OutputsError(f"outputs.dr.clusters[{index}] lacks {exc.args[0]!r}") from None
    return targets


class PatroniRest(Protocol):
    """One HTTP request to a node's Patroni REST API: (status, parsed JSON body or None)."""

    def __call__(self, method: str, address: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]: ...


def urllib_rest(username: str, password: str, ca_file: str | None, timeout: float = 5.0) -> PatroniRest:
    """HTTPS with basic authentication (the REST API's `patroni` user). Without `ca_file` the node's certificate,
    made at boot, is not verified (as the NLB health checks); give the CA to verify it."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl._create_unverified_context()
    if ca_file:
        context.check_hostname = False  # nodes are addressed by IP; the chain is still verified
    token = b64encode(f"{username}:{password}".encode()).decode()

    def call(method: str, address: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"https://{address}:{RESTAPI_PORT}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    return call


def _members(target: StandbyClusterTarget, rest: PatroniRest) -> tuple[str, list[dict[str, Any]]]:
    """(the address that answered, the members of `GET /cluster`); PromotionError when no node answers."""
    problems = []
    for address in target.node_addresses:
        try:
            status, body = rest("GET", address, "/cluster")
        except OSError as exc:
            problems.append(f"{address}: {type(exc).__name__}")
            continue
        if status == 200 and isinstance(body, dict):
            return address, list(body.get("members", []))
        problems.append(f"{address}: HTTP {status}")
    raise PromotionError(f"{target.standby_identifier}: no node's REST API answers ({'; '.join(problems)})")


def _role(members: Sequence[dict[str, Any]], role: str) -> dict[str, Any] | None:
    return next((m for m in members if m.get("role") == role and m.get("state") == "running"), None)


def _replay_lag_seconds(target: StandbyClusterTarget, rest: PatroniRest, address: str) -> float | None:
    """Age of the last transaction the standby leader replayed (`GET /patroni`: xlog.replayed_timestamp)."""
    status, body = rest("GET", address, "/patroni")
    replayed = (body or {}).get("xlog", {}).get("replayed_timestamp") if status == 200 else None
    if not replayed:
        return None
    return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(replayed)).total_seconds())


def cluster_preflight(target: StandbyClusterTarget, rest: PatroniRest, settings: PromotionSettings) -> dict[str, Any]:
    _, members = _members(target, rest)
    if _role(members, "leader") or _role(members, "master"):
        return {"already_promoted": True, "lag_seconds": None}
    leader = _role(members, "standby_leader")
    if leader is None:
        seen = ", ".join(f"{m.get('name')}={m.get('role')}/{m.get('state')}" for m in members) or "none"
        raise PromotionError(f"{target.standby_identifier}: no running standby leader (members: {seen})")
    lag = _replay_lag_seconds(target, rest, str(leader.get("host")))
    problems = []
    if lag is None:
        problems.append("has replayed no transaction yet")
    elif lag > settings.max_lag_seconds:
        problems.append(
            f"last replayed a transaction {lag:.0f} s ago (> --max-lag-seconds {settings.max_lag_seconds:g})"
        )
    if problems and not settings.force:
        raise PromotionError(
            f"{target.standby_identifier}: its standby leader {'; '.join(problems)}. While the primary region still "
            "writes this is how much a promotion loses: rerun with --force to accept that"
        )
    return {"already_promoted": False, "standby_leader": leader.get("name"), "lag_seconds": lag, "accepted": problems}


def _is_primary(rest: PatroniRest, address: str) -> bool:
    status, body = rest("GET", address, "/patroni")
    if status != 200 or not isinstance(body, dict):
        return False
    return body.get("role") in ("master", "primary") and "location" in (body.get("xlog") or {})


def cluster_promote(target: StandbyClusterTarget, rest: PatroniRest, settings: PromotionSettings) -> dict[str, Any]:
    """`standby_cluster: null` in the DCS: the standby leader promotes itself at its next loop and its replicas
    follow it; done when a leader answers `/primary`."""
    address, members = _members(target, rest)
    requested = time.time()
    began = time.monotonic()
    if not (_role(members, "leader") or _role(members, "master")):
        status, body = rest("PATCH", address, "/config", {"standby_cluster": None})
        if status != 200:
            raise PromotionError(f"{target.standby_identifier}: PATCH /config answered HTTP {status}: {body}")
    deadline = began + settings.timeout_seconds
    while True:
        _, members = _members(target, rest)
        # `GET /cluster` names the member `leader` as soon as the DCS has no `standby_cluster`, before its
        # PostgreSQL has left recovery: done only when its own `GET /patroni` reports a primary (a WAL write
        # position instead of a replay position).
        leader = _role(members, "leader") or _role(members, "master")
        if leader is not None and _is_primary(rest, str(leader.get("host"))):
            return {
                "leader": leader.get("name"),
                "seconds": round(time.monotonic() - began, 3),
                "requested_epoch": requested,
            }
        if time.monotonic() > deadline:
            raise PromotionError(
                f"{target.standby_identifier}: no primary {settings.timeout_seconds:.0f} s after promotion"
            )
        time.sleep(min(settings.poll_seconds, 1.0))


def enable_cluster_alarms(target: StandbyClusterTarget, clients: Clients) -> dict[str, Any]:
    """Enable the actions of every alarm named `<alarm_prefix>-...` in the DR region (metric and composite)."""
    cloudwatch = clients("cloudwatch", target.region)
    names: list[str] = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{target.alarm_prefix}-", AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    ):
        names += [a["AlarmName"] for a in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]]
    for start in range(0, len(names), 100):
        cloudwatch.enable_alarm_actions(AlarmNames=names[start : start + 100])
    return {"enabled": len(names)}


ClusterWriteCheck = Callable[[StandbyClusterTarget, str], None]
"""(target, leader member name) -> None; raises when the new leader takes no write."""


def promote_clusters(
    targets: Sequence[StandbyClusterTarget],
    *,
    rest: PatroniRest,
    clients: Clients,
    check_writes: ClusterWriteCheck,
    journal: Journal,
    settings: PromotionSettings,
    log: Log,
) -> bool:
    """Run (or resume) the cluster steps; True when every standby cluster is promoted and writable."""
    for target in targets:
        if journal.finished("cluster-promote", target.key):
            continue
        facts = cluster_preflight(target, rest, settings)
        log("cluster-preflight", cluster=target.name, standby=target.standby_identifier, **facts)
        if not settings.dry_run:
            journal.record("cluster-preflight", target.key, **facts)
    if settings.dry_run:
        return False
    for target in targets:
        if not journal.finished("cluster-promote", target.key):
            facts = cluster_promote(target, rest, settings)
            journal.record("cluster-promote", target.key, **facts)
            log("cluster-promote", cluster=target.name, standby=target.standby_identifier, **facts)
        if not journal.finished("cluster-alarms", target.key):
            facts = enable_cluster_alarms(target, clients)
            journal.record("cluster-alarms", target.key, **facts)
            log("cluster-alarms", cluster=target.name, **facts)
        if not journal.finished("cluster-verify-writes", target.key):
            promoted = journal.finished("cluster-promote", target.key) or {}
            begin = time.monotonic()
            check_writes(target, str(promoted.get("leader", "")))
            facts = {
                "check_seconds": round(time.monotonic() - begin, 3),
                "seconds_after_promote_start": round(time.time() - promoted.get("requested_epoch", time.time()), 3),
            }
            journal.record("cluster-verify-writes", target.key, **facts)
            log("cluster-verify-writes", cluster=target.name, **facts)
    return True


def sql_cluster_write_check(connect: Callable[[StandbyClusterTarget], Any], run_id: str) -> ClusterWriteCheck:
    """A write on the promoted cluster through its writer endpoint, read back (`cryb_dr.promotions`, as the shards')."""

    def check(target: StandbyClusterTarget, leader: str) -> None:
        with connect(target) as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise PromotionError(f"{target.standby_identifier}: {leader or 'the writer'} is still in recovery")
            conn.execute("CREATE SCHEMA IF NOT EXISTS cryb_dr")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS cryb_dr.promotions (run_id text NOT NULL, shard int NOT NULL, "
                "standby text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "INSERT INTO cryb_dr.promotions (run_id, shard, standby) VALUES (%s, -1, %s)",
                (run_id, target.standby_identifier),
            )
            found = conn.execute(
                "SELECT count(*) FROM cryb_dr.promotions WHERE run_id = %s AND standby = %s",
                (run_id, target.standby_identifier),
            ).fetchone()[0]
            if found < 1:
                raise PromotionError(f"{target.standby_identifier}: the verification row was not read back")

    return check


def promoted_cluster_entries(document: dict[str, Any], targets: Sequence[StandbyClusterTarget]) -> dict[str, Any]:
    """The outputs after the promotion: each self-hosted cluster's endpoints are its promoted standby cluster's, in
    the DR region, and `promotedFrom` names the lost one."""
    new = json.loads(json.dumps(document))
    by_name = {t.name: t for t in targets}
    entries = {e["standbyIdentifier"]: e for e in document.get("dr", {}).get("clusters", [])}
    for cluster in new.get("selfhosted", {}).get("clusters", []):
        target = by_name.get(cluster.get("name"))
        if target is None:
            continue
        standby = entries[target.standby_identifier]
        cluster.update(
            {
                "writerEndpoint": target.writer_endpoint,
                "readerEndpoints": list(target.reader_endpoints),
                "region": target.region,
                "secretArn": target.secret_arn,
                "nodes": standby["nodes"],
                "backupPrefix": standby["backup"]["prefix"],
                "backup": standby["backup"],
                "promotedFrom": {"region": cluster.get("region"), "identifier": target.source},
            }
        )
    return new
