"""The stack's CloudWatch dashboard as pure functions of the planned alarms (docs/monitoring.md#dashboard).

Every graph plots the same metric definitions the alarms evaluate (the owners' `metric_...()`), with the alarm
thresholds drawn as horizontal lines, so what an operator sees is what pages them. Sections: overview (load and
health), replication (lag, slots), capacity (storage, memory, transaction IDs, evictions). Dimension values may be
Outputs (a self-hosted node's auto-scaling group name): the caller serialises the body with `Output.json_dumps`.
"""

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from components.monitoring.alarm_thresholds import MetricLike, PlannedAlarm

GRID_WIDTH = 24
GRAPH_WIDTH, GRAPH_HEIGHT = 12, 6
KIND_LABELS = {
    "postgres": "PostgreSQL",
    "cache": "Cache",
    "selfhosted": "Self-hosted node",
    "rotation": "Secret rotation",
}
# (section, kind, metric) in the order they appear; metrics without a planned alarm are left out.
SECTIONS: dict[str, list[tuple[str, str]]] = {
    "Overview": [
        ("postgres", "CPUUtilization"),
        ("postgres", "DatabaseConnections"),
        ("postgres", "DBLoad"),
        ("postgres", "ReadLatency"),
        ("postgres", "WriteLatency"),
        ("cache", "EngineCPUUtilization"),
        ("cache", "CPUUtilization"),
        ("cache", "CurrConnections"),
        ("cache", "AuthenticationFailures"),
        ("cache", "ClusterStateOk"),
        ("cache", "ClusterFailedNodes"),
        ("selfhosted", "HealthyHostCount"),
        ("selfhosted", "StatusCheckFailed"),
        ("selfhosted", "GroupInServiceInstances"),
        ("selfhosted", "CPUUtilization"),
    ],
    "Replication": [
        ("postgres", "ReplicaLag"),
        ("postgres", "OldestReplicationSlotLag"),
        ("cache", "ReplicationLag"),
        ("cache", "MasterLinkHealthStatus"),
        ("selfhosted", "replication_lag_bytes"),
    ],
    "Capacity": [
        ("postgres", "FreeStorageSpace"),
        ("postgres", "FreeableMemory"),
        ("postgres", "MaximumUsedTransactionIDs"),
        ("postgres", "CPUCreditBalance"),
        ("cache", "DatabaseMemoryUsagePercentage"),
        ("cache", "Evictions"),
        ("selfhosted", "disk_used_percent"),
        ("selfhosted", "mem_used_percent"),
    ],
    "Credentials": [
        ("rotation", "Errors"),
    ],
}
SEVERITY_COLORS = {"critical": "#d62728", "warning": "#ff7f0e"}


def alarm_arn(region: str, account_id: str, alarm_name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_name}"


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{quote(name)}"


def metric_row(metric: MetricLike, label: str) -> list[Any]:
    """One entry of a widget's `metrics`: namespace, name, dimension pairs, then rendering options."""
    row: list[Any] = [metric.namespace, metric.metric_name]
    for key in sorted(metric.dimensions):
        row += [key, metric.dimensions[key]]
    row.append({"label": label, "stat": metric.statistic, "period": metric.period_seconds})
    return row


def _series_key(row: list[Any], statistic: str) -> str:
    """Identity of a plotted series. An Output dimension value (an auto-scaling group's name) is the same object for
    every metric of its node, so its identity stands for its value."""
    return json.dumps([*row[:-1], statistic], default=lambda value: f"<{type(value).__name__} {id(value)}>")


def _graph(title: str, alarms: Sequence[PlannedAlarm], region: str) -> dict[str, Any]:
    rows: list[list[Any]] = []
    seen: set[str] = set()
    for alarm in alarms:
        row = metric_row(alarm.metric, alarm.resource)
        identity = _series_key(row, alarm.metric.statistic)
        if identity not in seen:  # connections-warning and -critical share one series
            seen.add(identity)
            rows.append(row)
    lines = sorted({(a.spec.threshold, a.spec.severity, a.spec.comparison, a.spec.unit) for a in alarms})
    unit = alarms[0].spec.unit
    return {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "metrics": rows,
        "annotations": {
            "horizontal": [
                {
                    "label": f"{severity} {'>' if comparison.startswith('Greater') else '<'} {threshold:g}",
                    "value": threshold,
                    "color": SEVERITY_COLORS[severity],
                }
                for threshold, severity, comparison, _ in lines
            ]
        },
        "yAxis": {"left": {"min": 0, "label": unit, "showUnits": False}},
    }


def dashboard_body(
    region: str, account_id: str, planned: Sequence[PlannedAlarm], composite_alarm_names: Sequence[str], title: str
) -> dict[str, Any]:
    """The dashboard document (CloudWatch dashboard body structure); `planned` are every alarm the stack declares."""
    widgets: list[dict[str, Any]] = []
    y = 0

    def header(text: str) -> None:
        nonlocal y
        widgets.append(
            {"type": "text", "x": 0, "y": y, "width": GRID_WIDTH, "height": 1, "properties": {"markdown": text}}
        )
        y += 1

    for section, entries in SECTIONS.items():
        graphs = []
        for kind, metric_name in entries:
            alarms = [a for a in planned if a.kind == kind and a.spec.metric_name == metric_name]
            if alarms:
                graphs.append(_graph(f"{KIND_LABELS[kind]} {metric_name}", alarms, region))
        if section == "Overview":
            header(f"# {title}\nAlarm thresholds are drawn as lines; runbook: docs/monitoring.md")
            if composite_alarm_names:
                widgets.append(
                    {
                        "type": "alarm",
                        "x": 0,
                        "y": y,
                        "width": GRID_WIDTH,
                        "height": 2 + len(composite_alarm_names) // 4,
                        "properties": {
                            "title": "Unhealthy shards, node groups and clusters (these page)",
                            "alarms": [alarm_arn(region, account_id, n) for n in composite_alarm_names],
                            "sortBy": "stateUpdatedTimestamp",
                        },
                    }
                )
                y += widgets[-1]["height"]
        else:
            if not graphs:
                continue
            header(f"## {section}")
        for index, graph in enumerate(graphs):
            widgets.append(
                {
                    "type": "metric",
                    "x": (index % 2) * GRAPH_WIDTH,
                    "y": y + (index // 2) * GRAPH_HEIGHT,
                    "width": GRAPH_WIDTH,
                    "height": GRAPH_HEIGHT,
                    "properties": graph,
                }
            )
        y += ((len(graphs) + 1) // 2) * GRAPH_HEIGHT
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}


def referenced_metrics(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every series in a dashboard body (for checks and tests)."""
    found = []
    for widget in body.get("widgets", []):
        for row in widget.get("properties", {}).get("metrics", []):
            values = [v for v in row if not isinstance(v, dict)]
            namespace, name, pairs = values[0], values[1], values[2:]
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found
