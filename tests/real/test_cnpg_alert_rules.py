"""The CloudNativePG cluster alerts on what real PostgreSQL reports: a primary and a streaming standby (PostgreSQL 15
on loopback) stand in for a cluster's instances; on each, CloudNativePG 1.30's own default metrics queries (the
`cnpg-default-monitoring` ConfigMap vendored from its release, components/kubernetes/crds/) are run as its instance
manager runs them (the predicate queries respected) and their rows turned into `cnpg_<query>_<column>` series, which
`promtool test rules` feeds to the rules components/kubernetes/alert_rules.py renders. Healthy, nothing fires; with
`archive_command` failing, the WAL archiving alert fires; with the standby stopped, the standby alerts fire.

Not from PostgreSQL (no operator or kubelet here): `cnpg_collector_up` (1 per running instance), the newest backup's
timestamp and the volumes' statistics, given as healthy constants. The queries run as the superuser rather than
`cnpg_metrics_exporter` (a `pg_monitor` member: the same rows for these views).
"""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from components.kubernetes import alert_rules
from scripts.servers.process import wait_until
from tests.components.kubernetes.test_alert_rules import CNPG_DEFAULT_QUERIES, metric_names
from tests.servers.postgres import PostgresFactory, PostgresServer

pytestmark = pytest.mark.servers
if shutil.which("promtool") is None:
    raise RuntimeError("promtool is not installed: run .ci/setup.sh (Debian package prometheus)")

NS = "cryb-db-data"
CLUSTER = "shard0"
RULES = alert_rules.postgres_rules(CLUSTER, NS, 2, "0 0 3 * * *", alert_rules.AlertThresholds())


def _wait(check: Callable[[], bool], what: str) -> None:
    wait_until(check, what=what, timeout=30, interval=0.2)


def _queries() -> dict[str, dict[str, Any]]:
    """The default queries whose metrics the rules read."""
    config_map = yaml.safe_load(CNPG_DEFAULT_QUERIES.read_text())
    queries = yaml.safe_load(config_map["data"]["queries"])
    read = metric_names(RULES)
    return {key: q for key, q in queries.items() if any(m.startswith(f"cnpg_{q.get('name', key)}_") for m in read)}


def scrape(server: PostgresServer, pod: str) -> dict[str, float]:
    """What the instance's exporter would serve for these queries: series text -> value."""
    samples: dict[str, float] = {}
    in_recovery = server.is_in_recovery()
    for key, query in _queries().items():
        if query.get("primary") and in_recovery:
            continue
        if "predicate_query" in query and not server.scalar(query["predicate_query"]):
            continue
        columns = [next(iter(c.items())) for c in query["metrics"]]
        for row in server.execute(query["query"]):
            labels = {"namespace": NS, "pod": pod}
            labels.update(
                {name: str(v) for (name, spec), v in zip(columns, row, strict=True) if spec["usage"] == "LABEL"}
            )
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            for (name, spec), value in zip(columns, row, strict=True):
                if spec["usage"] in ("GAUGE", "COUNTER") and value is not None:
                    samples[f"cnpg_{query.get('name', key)}_{name}{{{text}}}"] = float(value)
    samples[f'cnpg_collector_up{{namespace="{NS}",pod="{pod}",cluster="{CLUSTER}"}}'] = 1
    samples[f'cnpg_collector_last_available_backup_timestamp{{namespace="{NS}",pod="{pod}"}}'] = 1000
    for claim in (pod, f"{pod}-wal"):
        samples[f'kubelet_volume_stats_used_bytes{{namespace="{NS}",persistentvolumeclaim="{claim}"}}'] = 50
        samples[f'kubelet_volume_stats_capacity_bytes{{namespace="{NS}",persistentvolumeclaim="{claim}"}}'] = 100
    return samples


def assert_alerts(samples: dict[str, float], firing: dict[str, tuple[dict[str, str], str]], tmp: Path) -> str:
    """Every alert of the group at 30 minutes of these constant series: those in `firing` (alert -> extra labels,
    the shown value) fire once, the others stay silent. Returns promtool's output; asserts it passed."""
    rules = tmp / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [alert_rules.rule_group(CLUSTER, NS, RULES)]}))
    tests = []
    for rule in RULES:
        expected = []
        if rule.alert in firing:
            extra, value = firing[rule.alert]
            labels = {"severity": rule.severity, "cryb_db_store": CLUSTER, "namespace": NS, "service": "cryb-db"}
            annotations = {
                "summary": rule.summary,
                "description": rule.description.replace("{{ $value }}", value),
                "runbook_url": f"{alert_rules.RUNBOOK}#{rule.key}",
            }
            expected.append({"exp_labels": {**labels, **extra}, "exp_annotations": annotations})
        tests.append({"eval_time": "30m", "alertname": rule.alert, "exp_alerts": expected})
    document = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": f"{v!r}x40"} for k, v in samples.items()],
                "alert_rule_test": tests,
            }
        ],
    }
    path = tmp / "test.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _archived(primary: PostgresServer, column: Literal["archived_count", "failed_count"], before: int) -> bool:
    primary.execute("create table if not exists t (i int); insert into t values (1)")
    primary.execute("select pg_switch_wal()")
    return int(primary.scalar(f"select {column} from pg_stat_archiver")) > before


@pytest.fixture
def cluster(postgres_factory: PostgresFactory) -> tuple[PostgresServer, PostgresServer]:
    """A primary archiving WAL (archive_command succeeds) and a standby streaming from it."""
    primary = postgres_factory.create(
        name="cnpg-1", settings={"archive_mode": "on", "archive_command": "/bin/true", "archive_timeout": 0}
    )
    standby = postgres_factory.create(name="cnpg-2", replica_of=primary)
    _wait(lambda: primary.scalar("select count(*) from pg_stat_replication where state = 'streaming'") == 1, "stream")
    _wait(lambda: _archived(primary, "archived_count", 0), "a WAL segment archived")
    return primary, standby


def test_a_healthy_cluster_raises_nothing(cluster: tuple[PostgresServer, PostgresServer], tmp_path: Path) -> None:
    primary, standby = cluster
    samples = {**scrape(primary, "shard0-1"), **scrape(standby, "shard0-2")}
    assert samples[f'cnpg_pg_replication_streaming_replicas{{namespace="{NS}",pod="shard0-1"}}'] == 1
    assert samples[f'cnpg_pg_replication_is_wal_receiver_up{{namespace="{NS}",pod="shard0-2"}}'] == 1
    assert not any(k.startswith("cnpg_pg_stat_archiver") and 'pod="shard0-2"' in k for k in samples)  # predicate
    assert "SUCCESS" in assert_alerts(samples, {}, tmp_path)


def test_failing_wal_archiving_raises_its_alert(cluster: tuple[PostgresServer, PostgresServer], tmp_path: Path) -> None:
    primary, standby = cluster
    primary.execute("alter system set archive_command = '/bin/false'")
    primary.execute("select pg_reload_conf()")
    _wait(lambda: _archived(primary, "failed_count", 0), "an archiving failure")
    samples = {**scrape(primary, "shard0-1"), **scrape(standby, "shard0-2")}
    assert_alerts(samples, {"CNPGWalArchivingFailing": ({}, "")}, tmp_path)


def test_a_stopped_standby_raises_the_standby_alerts(
    cluster: tuple[PostgresServer, PostgresServer], tmp_path: Path
) -> None:
    primary, standby = cluster
    standby.stop()
    _wait(lambda: primary.scalar("select count(*) from pg_stat_replication") == 0, "the walsender to go")
    samples = scrape(primary, "shard0-1")  # the standby's pod and exporter are gone
    assert_alerts(samples, {"CNPGNoStreamingStandby": ({}, "0"), "CNPGInstancesNotReady": ({}, "1")}, tmp_path)
