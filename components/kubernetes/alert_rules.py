"""Alerts of the data stores on the cluster (`engine: kubernetes`) as prometheus-operator `PrometheusRule` objects:
the Kubernetes-native counterpart of the CloudWatch alarms of the `rds` and `ec2` engines (components/monitoring/
alarm_thresholds.py), with the same `cryb-db:monitoring` thresholds where the metric exists.

Pure. The PostgreSQL alerts read the metrics CloudNativePG 1.30 exports from every instance (port `metrics`, 9187:
`cnpg_collector_*` and its default queries `cnpg_pg_replication_*`, `cnpg_backends_*`, `cnpg_pg_settings_*`,
`cnpg_pg_stat_archiver_*`, `cnpg_pg_database_*`; config/manager/default-monitoring.yaml of the release); the cache
alerts read redis_exporter's (`redis_*`, the sidecar of cache_cluster.py); volume alerts read the kubelet's
`kubelet_volume_stats_*`, which the cluster's Prometheus scrapes anyway. Every alert carries `severity`
(`critical` pages, `warning` notifies: the SNS topic of that name, routed by the cluster's Alertmanager) and the
store it is about; its annotations say what happened, why it matters and where the runbook is (docs/kubernetes.md).
tests/components/kubernetes/test_alert_rules.py runs the rules as rendered with `promtool check rules` and
`promtool test rules`.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal

from .manifests import labels, metadata

API = "monitoring.coreos.com/v1"
RUNBOOK = "docs/kubernetes.md"
XID_AGE = 1_000_000_000  # as the RDS alarm: past ~1 billion vacuum is not freezing; near 2.1 billion writes stop
STORE_LABEL = "cryb_db_store"
Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class AlertThresholds:
    """What a stack may tune (`cryb-db:monitoring`, the same keys as the CloudWatch alarms)."""

    replica_lag_seconds: int = 60
    """`replicaLagSeconds`: a standby this far behind raises the replication-lag alert."""
    connections_warning_percent: int = 80
    """`connectionsWarningPercent`: share of max_connections in use that warns."""
    connections_critical_percent: int = 90
    """`connectionsCriticalPercent`: share of max_connections in use that pages."""
    volume_warning_percent: int = 80
    """Used share of a data or WAL volume that warns (as the self-hosted nodes' data disk)."""
    volume_critical_percent: int = 90
    """Used share of a volume that pages."""
    cache_connections: int = 10_000
    """`cacheConnections`: client connections per cache node that warn."""

    def __post_init__(self) -> None:
        for name, warning, critical in (
            ("connections", self.connections_warning_percent, self.connections_critical_percent),
            ("volume", self.volume_warning_percent, self.volume_critical_percent),
        ):
            if not 0 < warning < critical <= 100:
                raise ValueError(f"{name} thresholds {warning} % / {critical} %: need 0 < warning < critical <= 100")


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule of a store."""

    key: str
    """Runbook anchor in docs/kubernetes.md (`#<key>`)."""
    alert: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str

    def render(self, store: str, namespace: str) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, STORE_LABEL: store, "namespace": namespace, "service": "cryb-db"},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{RUNBOOK}#{self.key}",
            },
        }


def backup_max_age_seconds(schedule: str) -> int:
    """How old the newest base backup may get: a day and two hours with a daily schedule (the ScheduledBackup's
    six-field cron with `*` for day of month, month and day of week), otherwise eight days (a weekly one)."""
    fields = schedule.split()
    if len(fields) != 6:
        raise ValueError(f"backup schedule {schedule!r}: six cron fields (seconds first)")
    daily = fields[3:] == ["*", "*", "*"] and re.fullmatch(r"\d+", fields[2]) is not None
    return (26 if daily else 8 * 24) * 3600


def instance_pods(cluster: str) -> str:
    """The pods (and data volumes) of a CloudNativePG cluster's instances: `<cluster>-<serial>`, serial from 1; not
    its Pooler's pods (`<cluster>-pooler-rw-...`) nor its jobs (`<cluster>-1-initdb-...`)."""
    return f"{cluster}-[1-9][0-9]*"


def _volume_rules(
    prefix: str, alert_prefix: str, store: str, namespace: str, claims: str, what: str, t: AlertThresholds
) -> list[AlertRule]:
    """Warn and page as a store's volumes (PVCs matching `claims`) fill, from the kubelet's statistics."""
    selector = f'namespace="{namespace}",persistentvolumeclaim=~"{claims}"'
    used = (
        f"max by (persistentvolumeclaim) (100 * kubelet_volume_stats_used_bytes{{{selector}}}"
        f" / kubelet_volume_stats_capacity_bytes{{{selector}}})"
    )
    return [
        AlertRule(
            f"{prefix}-volume",
            f"{alert_prefix}VolumeFilling",
            f"{used} > {t.volume_warning_percent}",
            "5m",
            "warning",
            f"{store}: volume {{{{ $labels.persistentvolumeclaim }}}} is more than {t.volume_warning_percent} % full",
            f'{what} It is {{{{ $value | printf "%.0f" }}}} % full: grow the PVC (the StorageClass allows expansion).',
        ),
        AlertRule(
            f"{prefix}-volume",
            f"{alert_prefix}VolumeFull",
            f"{used} > {t.volume_critical_percent}",
            "5m",
            "critical",
            f"{store}: volume {{{{ $labels.persistentvolumeclaim }}}} is more than {t.volume_critical_percent} % full",
            f'{what} It is {{{{ $value | printf "%.0f" }}}} % full; a full volume stops writes.',
        ),
    ]


def postgres_rules(
    cluster: str, namespace: str, instances: int, backup_schedule: str, t: AlertThresholds
) -> list[AlertRule]:
    """The alerts of one CloudNativePG cluster: the RDS/Patroni alarm set where CloudNativePG has the metric."""
    pods = f'namespace="{namespace}",pod=~"{instance_pods(cluster)}"'
    backup_age = backup_max_age_seconds(backup_schedule)
    connections = (
        f"max by (pod) (100 * sum by (pod) (cnpg_backends_total{{{pods}}})"
        f' / on (pod) max by (pod) (cnpg_pg_settings_setting{{{pods},name="max_connections"}}))'
    )
    rules = [
        AlertRule(
            "cnpg-no-primary",
            "CNPGNoPrimary",
            f"(count(cnpg_pg_replication_in_recovery{{{pods}}} == 0) or vector(0)) < 1",
            "2m",
            "critical",
            f"{cluster}: no instance is serving as primary",
            f"No instance of CloudNativePG cluster {namespace}/{cluster} has reported itself out of recovery for 2 "
            f"minutes: every write to {cluster}-rw (and its Pooler) fails.",
        ),
        AlertRule(
            "cnpg-instances-not-ready",
            "CNPGInstancesNotReady",
            f"(count(cnpg_collector_up{{{pods}}} == 1) or vector(0)) < {instances}",
            "5m",
            "warning",
            f"{cluster}: fewer than {instances} instances are up",
            f"Only {{{{ $value }}}} of the {instances} PostgreSQL instances of {namespace}/{cluster} have reported up "
            "for 5 minutes: the cluster runs short of standbys (a failover has fewer candidates).",
        ),
        AlertRule(
            "cnpg-replication-lag",
            "CNPGReplicationLag",
            f"max(cnpg_pg_replication_lag{{{pods}}}) > {t.replica_lag_seconds}",
            "10m",
            "critical",
            f"{cluster}: a standby is more than {t.replica_lag_seconds} s behind",
            f"A standby of {namespace}/{cluster} has been more than {t.replica_lag_seconds} s behind the primary for "
            "10 minutes (now {{ $value }} s): reads from -ro are stale and a failover would wait for it to catch up.",
        ),
        AlertRule(
            "cnpg-standby-not-streaming",
            "CNPGStandbyNotStreaming",
            f"cnpg_pg_replication_in_recovery{{{pods}}} > cnpg_pg_replication_is_wal_receiver_up{{{pods}}}",
            "5m",
            "warning",
            f"{cluster}: standby {{{{ $labels.pod }}}} is not streaming from the primary",
            "The standby has had no WAL receiver for 5 minutes: it replays from the archive at best and falls behind.",
        ),
        AlertRule(
            "cnpg-connections",
            "CNPGConnectionsHigh",
            f"{connections} > {t.connections_warning_percent}",
            "5m",
            "warning",
            f"{cluster}: {{{{ $labels.pod }}}} uses more than {t.connections_warning_percent} % of max_connections",
            '{{ $value | printf "%.0f" }} % of max_connections are in use on {{ $labels.pod }}: the Pooler '
            "keeps below its budget, so direct connections are piling up.",
        ),
        AlertRule(
            "cnpg-connections",
            "CNPGConnectionsExhausted",
            f"{connections} > {t.connections_critical_percent}",
            "5m",
            "critical",
            f"{cluster}: {{{{ $labels.pod }}}} uses more than {t.connections_critical_percent} % of max_connections",
            '{{ $value | printf "%.0f" }} % of max_connections are in use on {{ $labels.pod }}: new '
            "connections are about to be refused.",
        ),
        *_volume_rules(
            "cnpg",
            "CNPG",
            cluster,
            namespace,
            f"{instance_pods(cluster)}(-wal)?",
            "The data or WAL volume of a PostgreSQL instance is filling up.",
            t,
        ),
        AlertRule(
            "cnpg-backup-age",
            "CNPGBackupTooOld",
            f"time() - max(cnpg_collector_last_available_backup_timestamp{{{pods}}}) > {backup_age}",
            "15m",
            "warning",
            f"{cluster}: no base backup in the last {backup_age // 3600} hours",
            f"The newest base backup of {namespace}/{cluster} in the backup bucket is older than "
            f"{backup_age // 3600} hours (schedule `{backup_schedule}`): the ScheduledBackup is failing, so a "
            "restore would replay more WAL, or none is possible yet.",
        ),
        AlertRule(
            "cnpg-wal-archiving",
            "CNPGWalArchivingFailing",
            f"max(cnpg_pg_stat_archiver_last_failed_time{{{pods}}}"
            f" - cnpg_pg_stat_archiver_last_archived_time{{{pods}}}) > 0",
            "10m",
            "critical",
            f"{cluster}: WAL archiving to the backup bucket is failing",
            "The last WAL archive attempt failed and none succeeded since, for 10 minutes: point-in-time recovery "
            "stops at the last archived segment and pg_wal grows until the WAL volume is full.",
        ),
        AlertRule(
            "cnpg-transaction-ids",
            "CNPGTransactionIdWraparound",
            f"max by (datname) (cnpg_pg_database_xid_age{{{pods}}}) > {XID_AGE}",
            "1m",
            "critical",
            f"{cluster}: {{{{ $labels.datname }}}} is more than 1 billion transactions from wraparound protection",
            "Transaction IDs used since the oldest unfrozen row passed 1 billion: vacuum is not freezing; near 2.1 "
            "billion PostgreSQL stops accepting writes.",
        ),
    ]
    if instances > 1:
        rules.insert(
            2,
            AlertRule(
                "cnpg-no-standby",
                "CNPGNoStreamingStandby",
                f"(max(cnpg_pg_replication_streaming_replicas{{{pods}}}"
                f" - cnpg_pg_replication_is_wal_receiver_up{{{pods}}}) or vector(0)) < 1",
                "2m",
                "critical",
                f"{cluster}: the primary has no streaming standby",
                f"No standby of {namespace}/{cluster} has streamed from the primary for 2 minutes: replication is "
                "synchronous with required durability, so commits wait until one is back.",
            ),
        )
    return rules


def cache_rules(namespace: str, statefulset: str, nodes: int, t: AlertThresholds) -> list[AlertRule]:
    """The alerts of the Valkey cluster StatefulSet, from its pods' redis_exporter sidecars."""
    pods = f'namespace="{namespace}",pod=~"{statefulset}-[0-9]+"'
    return [
        AlertRule(
            "valkey-cluster-state",
            "ValkeyClusterStateNotOk",
            f"(min(redis_cluster_state{{{pods}}}) or vector(0)) < 1",
            "2m",
            "critical",
            "cache: the Valkey cluster state is not ok",
            "A node has reported `cluster_state:fail` (or no node reports at all) for 2 minutes: some hash slots "
            "have no serving master and every command on those keys fails.",
        ),
        AlertRule(
            "valkey-node-down",
            "ValkeyNodeDown",
            f"(count(redis_up{{{pods}}} == 1) or vector(0)) < {nodes}",
            "3m",
            "warning",
            f"cache: fewer than {nodes} Valkey nodes are up",
            f"Only {{{{ $value }}}} of the {nodes} nodes have answered their exporter for 3 minutes: a shard runs "
            "without its replica (or without its master, then the cluster state alert fires too).",
        ),
        AlertRule(
            "valkey-memory",
            "ValkeyMemoryNearMaxmemory",
            f"max by (pod) (100 * redis_memory_used_bytes{{{pods}}} / (redis_memory_max_bytes{{{pods}}} > 0)) > 90",
            "5m",
            "critical",
            "cache: {{ $labels.pod }} uses more than 90 % of maxmemory",
            "Above 90 % of maxmemory for 5 minutes: at 100 % the eviction policy drops keys or writes fail.",
        ),
        AlertRule(
            "valkey-replication-link",
            "ValkeyReplicationLinkDown",
            f"min by (pod) (redis_master_link_up{{{pods}}}) < 1",
            "2m",
            "warning",
            "cache: replica {{ $labels.pod }} has lost its master",
            "The replica's link to its master has been down for 2 minutes: it serves stale reads and could not take "
            "over without losing writes.",
        ),
        AlertRule(
            "valkey-connections",
            "ValkeyConnectionsHigh",
            f"max by (pod) (redis_connected_clients{{{pods}}}) > {t.cache_connections}",
            "10m",
            "warning",
            f"cache: {{{{ $labels.pod }}}} has more than {t.cache_connections} client connections",
            f"More than {t.cache_connections} client connections for 10 minutes (maxclients is 65000): a connection "
            "leak or a reconnect storm.",
        ),
        *_volume_rules(
            "valkey",
            "Valkey",
            "cache",
            namespace,
            f"data-{statefulset}-[0-9]+",
            "The AOF volume of a cache node is filling up.",
            t,
        ),
    ]


def rule_group(store: str, namespace: str, rules: list[AlertRule]) -> dict[str, Any]:
    """One Prometheus rule group (the `groups[]` entry promtool and the operator read)."""
    return {"name": f"cryb-db/{store}", "rules": [rule.render(store, namespace) for rule in rules]}


def prometheus_rule(
    store: str, namespace: str, rules: list[AlertRule], selector_labels: dict[str, str]
) -> dict[str, Any]:
    """The PrometheusRule of one store, labelled so that the cluster's Prometheus selects it (`ruleSelector`)."""
    return {
        "apiVersion": API,
        "kind": "PrometheusRule",
        "metadata": metadata(f"{store}-alerts", namespace, labels={**labels("alerts", store), **selector_labels}),
        "spec": {"groups": [rule_group(store, namespace, rules)]},
    }


def pod_monitor(
    name: str,
    namespace: str,
    selector: dict[str, str],
    port: str,
    tls: dict[str, Any],
    selector_labels: dict[str, str],
) -> dict[str, Any]:
    """A PodMonitor scraping the pods of `selector` on the named port over HTTPS, verifying the server's
    certificate with `tls` (prometheus-operator SafeTLSConfig: `ca`, `serverName`)."""
    return {
        "apiVersion": API,
        "kind": "PodMonitor",
        "metadata": metadata(name, namespace, labels={**labels("monitoring", name), **selector_labels}),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "namespaceSelector": {"matchNames": [namespace]},
            "podMetricsEndpoints": [{"port": port, "scheme": "https", "interval": "30s", "tlsConfig": tls}],
        },
    }
