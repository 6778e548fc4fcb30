"""The alerts of the data stores on the cluster, run by Prometheus' own `promtool` (Debian's prometheus 2.42): every
rule group as the program renders it into the PrometheusRule objects of the example kubernetes stack's preview passes
`promtool check rules`, and `promtool test rules` feeds those groups synthetic series (the metric names CloudNativePG
1.30 and redis_exporter export) to show that each alert fires past its threshold and stays silent below it. The stack
is previewed with `cryb-db:monitoring` thresholds that are not the defaults (replica lag 45 s, connections 70/85 %,
cache connections 3000), so an alert that ignored its key would fire or stay silent at the wrong value."""

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kubernetes import alert_rules
from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation, evaluate

if shutil.which("promtool") is None:
    raise RuntimeError("promtool is not installed: run .ci/setup.sh (Debian package prometheus)")

EXAMPLE = PROJECT_DIR / "docs" / "examples" / "Pulumi.prod-kubernetes.yaml"
NS = "cryb-db-data"
MONITORING = {"replicaLagSeconds": 45, "connectionsWarningPercent": 70, "connectionsCriticalPercent": 85}
CACHE_CONNECTIONS = 3000  # default 10000
EVAL = "30m"  # every alert's `for` has passed; time() is 1800 there


# -- pure ----------------------------------------------------------------------------------------------------------
def test_instance_pods_match_the_instances_only() -> None:
    pattern = re.compile(alert_rules.instance_pods("shard1"))  # Prometheus anchors its regexes
    assert all(pattern.fullmatch(p) for p in ("shard1-1", "shard1-2", "shard1-12"))
    for other in ("shard1-0", "shard10-1", "shard1-pooler-rw-7d9f", "shard1-1-initdb-x2k", "shard1-1-wal"):
        assert not pattern.fullmatch(other), other


def test_backup_age_follows_the_schedule() -> None:
    assert alert_rules.backup_max_age_seconds("0 0 3 * * *") == 26 * 3600
    assert alert_rules.backup_max_age_seconds("0 30 1 * * 0") == 8 * 24 * 3600  # weekly
    with pytest.raises(ValueError, match="six cron fields"):
        alert_rules.backup_max_age_seconds("0 3 * * *")


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="connections thresholds 90 % / 80 %"):
        alert_rules.AlertThresholds(connections_warning_percent=90, connections_critical_percent=80)
    with pytest.raises(ValueError, match="volume thresholds"):
        alert_rules.AlertThresholds(volume_warning_percent=95, volume_critical_percent=90)


def test_a_single_instance_cluster_has_no_standby_alert() -> None:
    t = alert_rules.AlertThresholds()
    assert "CNPGNoStreamingStandby" in {r.alert for r in alert_rules.postgres_rules("a", NS, 3, "0 0 3 * * *", t)}
    assert "CNPGNoStreamingStandby" not in {r.alert for r in alert_rules.postgres_rules("a", NS, 1, "0 0 3 * * *", t)}


def test_every_runbook_anchor_is_a_section_of_the_docs() -> None:
    docs = (PROJECT_DIR / alert_rules.RUNBOOK).read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in docs.splitlines()
        if line.startswith("#")
    }
    t = alert_rules.AlertThresholds()
    rules = [*alert_rules.postgres_rules("a", NS, 3, "0 0 3 * * *", t), *alert_rules.cache_rules(NS, "cache", 6, t)]
    assert {r.key for r in rules} - anchors == set()


# The instance manager's own metrics the rules read (docs/src/monitoring.md of CloudNativePG 1.30: `cnpg_collector_up`;
# `..._last_available_backup_timestamp`, deprecated since 1.26 but kept for the in-tree Barman Cloud the clusters use).
CNPG_COLLECTOR_METRICS = {"cnpg_collector_up", "cnpg_collector_last_available_backup_timestamp"}
CNPG_DEFAULT_QUERIES = PROJECT_DIR / "components" / "kubernetes" / "crds" / "cnpg-default-monitoring.yaml"
# The kubelet's volume statistics (the cluster's Prometheus scrapes every kubelet).
KUBELET_METRICS = {"kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"}


def exported_by_default_queries() -> set[str]:
    """`cnpg_<query name>_<column>` of every gauge and counter column of CloudNativePG 1.30's default queries."""
    config_map = yaml.safe_load(CNPG_DEFAULT_QUERIES.read_text())
    queries = yaml.safe_load(config_map["data"]["queries"])
    names = set()
    for key, query in queries.items():
        for column in query["metrics"]:
            ((name, spec),) = column.items()
            if spec["usage"] in ("GAUGE", "COUNTER"):
                names.add(f"cnpg_{query.get('name', key)}_{name}")
    return names


def metric_names(rules: list[alert_rules.AlertRule]) -> set[str]:
    names = {m for r in rules for m in re.findall(r"\b[a-z_]+(?=\{)", r.expr)}
    assert names, "the expressions select their series with {labels}"
    return names


def test_the_cluster_alerts_read_metrics_cloudnativepg_exports() -> None:
    exported = exported_by_default_queries()
    assert {"cnpg_pg_replication_lag", "cnpg_backends_total", "cnpg_pg_settings_setting"} <= exported
    rules = alert_rules.postgres_rules("shard0", NS, 3, "0 0 3 * * *", alert_rules.AlertThresholds())
    assert metric_names(rules) - exported - CNPG_COLLECTOR_METRICS - KUBELET_METRICS == set()


# -- the program's rules under promtool ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    document = yaml.safe_load(EXAMPLE.read_text())
    config = copy.deepcopy(document["config"])
    config["cryb-db:monitoring"] = {**config["cryb-db:monitoring"], **MONITORING, "cacheConnections": CACHE_CONNECTIONS}
    path = tmp_path_factory.mktemp("thresholds") / "Pulumi.prod-kubernetes-thresholds.yaml"
    path.write_text(yaml.safe_dump({**document, "config": config}))
    return evaluate("prod", path)


@pytest.fixture(scope="module")
def rule_files(stack: Evaluation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Store -> the `spec` of its recorded PrometheusRule, written as a Prometheus rules file."""
    directory = tmp_path_factory.mktemp("rules")
    files = {}
    for r in stack.resources:
        if r.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule":
            store = r.inputs["metadata"]["name"].removesuffix("-alerts")
            files[store] = directory / f"{store}.yaml"
            files[store].write_text(yaml.safe_dump(r.inputs["spec"]))
    return files


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_rendered_rule_group_passes_promtool_check(rule_files: dict[str, Path]) -> None:
    assert sorted(rule_files) == ["analytics", "cache", "shard0", "shard1", "shard2", "shard3"]
    paths = [str(p) for p in rule_files.values()]
    result = promtool("check", "rules", *paths, cwd=next(iter(rule_files.values())).parent)
    assert result.returncode == 0, result.stdout + result.stderr
    found = [int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout)]
    assert found == [7 if "cache" in p else 12 for p in paths]  # 3 instances each: the standby alert too


def test_promtool_rejects_a_broken_rule(rule_files: dict[str, Path], tmp_path: Path) -> None:
    """The check above can fail: the same group with one expression cut short does not pass."""
    spec = yaml.safe_load(rule_files["shard0"].read_text())
    spec["groups"][0]["rules"][0]["expr"] = spec["groups"][0]["rules"][0]["expr"].rsplit(")", 1)[0]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(spec))
    result = promtool("check", "rules", str(broken), cwd=tmp_path)
    assert result.returncode == 1 and "FAILED" in result.stdout + result.stderr


def labels(store: str, severity: str, **extra: str) -> dict[str, str]:
    return {"severity": severity, "cryb_db_store": store, "namespace": NS, "service": "cryb-db", **extra}


def series(metric: str, value: float | None, **labels_: str) -> tuple[str, str]:
    """One input series, constant for 40 minutes (None: absent)."""
    text = ",".join(f'{k}="{v}"' for k, v in {"namespace": NS, **labels_}.items())
    return f"{metric}{{{text}}}", "_x40" if value is None else f"{value}x40"


def healthy_shard0(lag: float = 0, backends: int = 100, used: int = 50) -> dict[str, str]:
    """shard0: shard0-1 the primary, shard0-2 and -3 streaming standbys; shard1 and a Pooler pod in distress (their
    series must not reach shard0's alerts)."""
    out: dict[str, str] = {}

    def add(metric: str, value: float | None, **lbl: str) -> None:
        key, values = series(metric, value, **lbl)
        out[key] = values

    for n, primary in ((1, True), (2, False), (3, False)):
        pod = f"shard0-{n}"
        add("cnpg_collector_up", 1, pod=pod, cluster="shard0")
        add("cnpg_pg_replication_in_recovery", 0 if primary else 1, pod=pod)
        add("cnpg_pg_replication_is_wal_receiver_up", 0 if primary else 1, pod=pod)
        add("cnpg_pg_replication_streaming_replicas", 2 if primary else 0, pod=pod)
        add("cnpg_pg_replication_lag", 0 if primary else lag, pod=pod)
        add("cnpg_backends_total", backends, pod=pod, datname="cryb", usename="cryb_admin", state="active")
        add("cnpg_pg_settings_setting", 400, pod=pod, name="max_connections")
        add("cnpg_pg_database_xid_age", 100_000_000, pod=pod, datname="cryb")
        add("cnpg_collector_last_available_backup_timestamp", 1000, pod=pod)
        add("cnpg_pg_stat_archiver_last_failed_time", -1, pod=pod)
        add("cnpg_pg_stat_archiver_last_archived_time", 1700, pod=pod)
        for claim in (pod, f"{pod}-wal"):
            add("kubelet_volume_stats_used_bytes", used, persistentvolumeclaim=claim)
            add("kubelet_volume_stats_capacity_bytes", 100, persistentvolumeclaim=claim)
    add("cnpg_pg_replication_lag", 5000, pod="shard1-2")
    add("cnpg_pg_database_xid_age", 2_000_000_000, pod="shard1-1", datname="cryb")
    add("cnpg_backends_total", 400, pod="shard0-pooler-rw-7d9f", datname="cryb", usename="x", state="active")
    add("cnpg_pg_settings_setting", 400, pod="shard0-pooler-rw-7d9f", name="max_connections")
    add("kubelet_volume_stats_used_bytes", 99, persistentvolumeclaim="shard1-1")
    add("kubelet_volume_stats_capacity_bytes", 100, persistentvolumeclaim="shard1-1")
    return out


def healthy_cache(clients: int = 100, used: int = 100) -> dict[str, str]:
    out: dict[str, str] = {}

    def add(metric: str, value: float | None, **lbl: str) -> None:
        key, values = series(metric, value, **lbl)
        out[key] = values

    for i in range(6):
        pod = f"cache-{i}"
        add("redis_up", 1, pod=pod)
        add("redis_cluster_state", 1, pod=pod)
        add("redis_memory_used_bytes", used, pod=pod)
        add("redis_memory_max_bytes", 1000, pod=pod)
        add("redis_connected_clients", clients, pod=pod)
        if i >= 3:
            add("redis_master_link_up", 1, pod=pod, master_host=f"cache-{i - 3}", master_port="6379")
        add("kubelet_volume_stats_used_bytes", 10, persistentvolumeclaim=f"data-{pod}")
        add("kubelet_volume_stats_capacity_bytes", 100, persistentvolumeclaim=f"data-{pod}")
    return out


# Each case: the series (a healthy store with one thing changed) and the alerts that must fire, with their labels
# and the values their annotations show; every other alert of the group must stay silent.
Firing = list[tuple[str, dict[str, str], dict[str, str]]]  # (alert, labels, template values)


def _shard0_cases() -> dict[str, tuple[dict[str, str], Firing]]:
    s = "shard0"
    down = healthy_shard0()
    for key in [k for k in down if 'pod="shard0-1"' in k and not k.startswith("kubelet")]:
        down[key] = "_x40"  # the primary's pod is gone: its exporter's series stop
    archiving = healthy_shard0()
    archiving[series("cnpg_pg_stat_archiver_last_failed_time", 0, pod="shard0-1")[0]] = "1750x40"
    old_backup = healthy_shard0()
    for n in (1, 2, 3):
        old_backup[series("cnpg_collector_last_available_backup_timestamp", 0, pod=f"shard0-{n}")[0]] = "-95000x40"
    xid = healthy_shard0()
    xid[series("cnpg_pg_database_xid_age", 0, pod="shard0-1", datname="cryb")[0]] = "1500000000x40"
    not_streaming = healthy_shard0()
    not_streaming[series("cnpg_pg_replication_is_wal_receiver_up", 0, pod="shard0-3")[0]] = "0x40"
    not_streaming[series("cnpg_pg_replication_streaming_replicas", 0, pod="shard0-1")[0]] = "1x40"
    no_standby = healthy_shard0()
    for n in (2, 3):
        no_standby[series("cnpg_pg_replication_is_wal_receiver_up", 0, pod=f"shard0-{n}")[0]] = "0x40"
    no_standby[series("cnpg_pg_replication_streaming_replicas", 0, pod="shard0-1")[0]] = "0x40"
    pods = {"shard0-1": {}, "shard0-2": {}, "shard0-3": {}}
    return {
        "healthy": (healthy_shard0(), []),
        # replicaLagSeconds 45: 50 s fires, 40 s does not (at the default 60 neither would)
        "lag-50s": (healthy_shard0(lag=50), [("CNPGReplicationLag", labels(s, "critical"), {"value": "50"})]),
        "lag-40s": (healthy_shard0(lag=40), []),
        # connectionsWarningPercent 70, connectionsCriticalPercent 85 of max_connections 400
        "connections-65%": (healthy_shard0(backends=260), []),
        "connections-75%": (
            healthy_shard0(backends=300),
            [("CNPGConnectionsHigh", labels(s, "warning", pod=p), {"value": "75", "pod": p}) for p in pods],
        ),
        "connections-88%": (
            healthy_shard0(backends=352),
            [
                (alert, labels(s, severity, pod=p), {"value": "88", "pod": p})
                for alert, severity in (("CNPGConnectionsHigh", "warning"), ("CNPGConnectionsExhausted", "critical"))
                for p in pods
            ],
        ),
        "volumes-85%": (
            healthy_shard0(used=85),
            [
                ("CNPGVolumeFilling", labels(s, "warning", persistentvolumeclaim=c), {"value": "85", "pvc": c})
                for p in pods
                for c in (p, f"{p}-wal")
            ],
        ),
        "volumes-95%": (
            healthy_shard0(used=95),
            [
                (alert, labels(s, severity, persistentvolumeclaim=c), {"value": "95", "pvc": c})
                for alert, severity in (("CNPGVolumeFilling", "warning"), ("CNPGVolumeFull", "critical"))
                for p in pods
                for c in (p, f"{p}-wal")
            ],
        ),
        "primary-gone": (
            down,
            [
                ("CNPGNoPrimary", labels(s, "critical"), {"value": "0"}),
                ("CNPGInstancesNotReady", labels(s, "warning"), {"value": "2"}),
                ("CNPGNoStreamingStandby", labels(s, "critical"), {"value": "-1"}),
            ],
        ),
        "standby-not-streaming": (
            not_streaming,
            [("CNPGStandbyNotStreaming", labels(s, "warning", pod="shard0-3"), {"value": "1", "pod": "shard0-3"})],
        ),
        "no-standby": (
            no_standby,
            [("CNPGNoStreamingStandby", labels(s, "critical"), {"value": "0"})]
            + [
                ("CNPGStandbyNotStreaming", labels(s, "warning", pod=p), {"value": "1", "pod": p})
                for p in ("shard0-2", "shard0-3")
            ],
        ),
        "backup-26h-old": (old_backup, [("CNPGBackupTooOld", labels(s, "warning"), {"value": "96800"})]),
        "archiving-failing": (archiving, [("CNPGWalArchivingFailing", labels(s, "critical"), {"value": "50"})]),
        "xid-1.5-billion": (
            xid,
            [("CNPGTransactionIdWraparound", labels(s, "critical", datname="cryb"), {"value": "1.5e+09"})],
        ),
    }


def _cache_cases() -> dict[str, tuple[dict[str, str], Firing]]:
    s = "cache"
    node_gone = healthy_cache()
    for key in [k for k in node_gone if 'pod="cache-5"' in k]:
        node_gone[key] = "_x40"
    state_fail = healthy_cache()
    state_fail[series("redis_cluster_state", 0, pod="cache-2")[0]] = "0x40"
    link_down = healthy_cache()
    link_down[series("redis_master_link_up", 0, pod="cache-4", master_host="cache-1", master_port="6379")[0]] = "0x40"
    memory = healthy_cache()
    memory[series("redis_memory_used_bytes", 0, pod="cache-2")[0]] = "950x40"
    full = healthy_cache()
    for metric, value in (("kubelet_volume_stats_used_bytes", 93),):
        full[series(metric, 0, persistentvolumeclaim="data-cache-1")[0]] = f"{value}x40"
    nothing = {k: "_x40" for k in healthy_cache() if not k.startswith("kubelet")}
    return {
        "healthy": (healthy_cache(), []),
        # cacheConnections 3000: 3500 fires, 2500 does not (the default 10000 would not fire at either)
        "clients-3500": (
            healthy_cache(clients=3500),
            [
                ("ValkeyConnectionsHigh", labels(s, "warning", pod=f"cache-{i}"), {"pod": f"cache-{i}"})
                for i in range(6)
            ],
        ),
        "clients-2500": (healthy_cache(clients=2500), []),
        "node-gone": (node_gone, [("ValkeyNodeDown", labels(s, "warning"), {"value": "5"})]),
        "cluster-state-fail": (state_fail, [("ValkeyClusterStateNotOk", labels(s, "critical"), {})]),
        "no-node-reports": (
            nothing,
            [
                ("ValkeyClusterStateNotOk", labels(s, "critical"), {}),
                ("ValkeyNodeDown", labels(s, "warning"), {"value": "0"}),
            ],
        ),
        "replication-link-down": (
            link_down,
            [("ValkeyReplicationLinkDown", labels(s, "warning", pod="cache-4"), {"pod": "cache-4"})],
        ),
        "memory-95%": (
            memory,
            [("ValkeyMemoryNearMaxmemory", labels(s, "critical", pod="cache-2"), {"pod": "cache-2"})],
        ),
        "volume-93%": (
            full,
            [
                (
                    alert,
                    labels(s, severity, persistentvolumeclaim="data-cache-1"),
                    {"value": "93", "pvc": "data-cache-1"},
                )
                for alert, severity in (("ValkeyVolumeFilling", "warning"), ("ValkeyVolumeFull", "critical"))
            ],
        ),
    }


def expand(text: str, values: dict[str, str]) -> str:
    """The annotation as Alertmanager would show it, for the values the case gives (written out above)."""
    text = re.sub(r"\{\{ \$value( \| printf \"%\.0f\")? \}\}", lambda _: values["value"], text)
    text = text.replace("{{ $labels.pod }}", values.get("pod", ""))
    text = text.replace("{{ $labels.persistentvolumeclaim }}", values.get("pvc", ""))
    return text.replace("{{ $labels.datname }}", "cryb")


def run_case(rule_file: Path, cases: tuple[dict[str, str], Firing], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    given, firing = cases
    group = yaml.safe_load(rule_file.read_text())["groups"][0]
    annotations: dict[str, dict[str, str]] = {r["alert"]: r["annotations"] for r in group["rules"]}
    expected: dict[str, list[dict[str, Any]]] = {name: [] for name in annotations}
    for alert, lbl, values in firing:
        shown = {k: expand(v, values) for k, v in annotations[alert].items()}
        expected[alert].append({"exp_labels": lbl, "exp_annotations": shown})
    test = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": v} for k, v in given.items()],
                "alert_rule_test": [
                    {"eval_time": EVAL, "alertname": name, "exp_alerts": alerts} for name, alerts in expected.items()
                ],
            }
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return promtool("test", "rules", str(path), cwd=tmp_path)


@pytest.mark.parametrize("case", list(_shard0_cases()))
def test_a_cluster_alert_fires_past_its_threshold_and_only_then(
    rule_files: dict[str, Path], case: str, tmp_path: Path
) -> None:
    result = run_case(rule_files["shard0"], _shard0_cases()[case], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("case", list(_cache_cases()))
def test_a_cache_alert_fires_past_its_threshold_and_only_then(
    rule_files: dict[str, Path], case: str, tmp_path: Path
) -> None:
    result = run_case(rule_files["cache"], _cache_cases()[case], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_case_that_expects_the_wrong_alerts_fails(rule_files: dict[str, Path], tmp_path: Path) -> None:
    """The harness can fail: 40 s of lag expected to fire (it would at a threshold below 40) is reported as a miss."""
    given, _ = _shard0_cases()["lag-40s"]
    wrong: Firing = [("CNPGReplicationLag", labels("shard0", "critical"), {"value": "40"})]
    result = run_case(rule_files["shard0"], (given, wrong), tmp_path)
    assert result.returncode == 1 and "CNPGReplicationLag" in result.stdout + result.stderr
