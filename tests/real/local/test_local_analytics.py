"""`python -m scripts local up --stack prod`: prod's analytics cluster (three Patroni nodes from its rendered user
data, TimescaleDB's pg_partman fallback) beside one shard stand-in and the cache, one up/down cycle for the module.
A client that knows only outputs.local.json survives a kill -9 of the analytics leader; `local down` leaves
nothing (the checks and the failover are the dev platform's: tests/real/local/platform.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from scripts.local.outputs import validate
from scripts.local.tuning import local_parameters, node_budget
from tests.real.local.platform import (
    Platform,
    assert_down_leaves_nothing,
    cli,
    kill_leader_under_a_writer,
    running_platform,
)

pytestmark = pytest.mark.servers

ANALYTICS = "cryb-prod-analytics"  # the SelfHostedCluster the preview declares for selfhosted.clusters[analytics]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("local-prod"), "--stack", "prod") as booted:
        yield booted


def _analytics(platform: Platform) -> dict[str, Any]:
    (cluster,) = platform.outputs()["selfhosted"]["clusters"]
    return cluster


def test_up_boots_the_analytics_cluster_and_says_it_runs_the_timescaledb_fallback(platform: Platform) -> None:
    outputs = platform.outputs()
    validate(outputs)
    cluster = _analytics(platform)
    assert (cluster["name"], cluster["writerEndpoint"], cluster["readerEndpoints"], cluster["port"]) == (
        "analytics", "127.2.0.1", ["127.2.0.2"], 5432,
    )  # fmt: skip
    assert [s["name"] for s in outputs["postgres"]["shards"]] == ["cryb-prod-pg-00"]  # one of prod's 4 shards
    nodes = [n for n in platform.state.nodes if n.cluster == ANALYTICS]
    assert sorted(n["address"] for n in cluster["nodes"]) == sorted(n.address for n in nodes)
    assert "TimescaleDB cannot be installed on this machine" in platform.up.stdout
    assert "pg_partman" in platform.up.stdout
    status = cli(platform.env, "local", "status", timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "cryb-prod-analytics-node-a" in status.stdout and "TimescaleDB cannot be installed" in status.stdout
    state = platform.current_state()
    roles = sorted(n.role for n in state.nodes if n.cluster == ANALYTICS)
    assert roles == ["leader", "replica", "replica"] and all(n.healthy for n in state.nodes)


def test_every_address_of_the_cluster_in_the_outputs_answers_with_the_machine_sized_parameters(
    platform: Platform,
) -> None:
    cluster = _analytics(platform)
    expected = local_parameters(node_budget(sum(1 for n in platform.state.nodes if n.kind == "postgres")))
    assert expected["shared_buffers"] == "10912"  # 6 nodes share 2048 MiB: 341 MiB each, 25 % of it in 8 kB pages
    recovery = {}
    for host in (cluster["writerEndpoint"], *cluster["readerEndpoints"], *(n["address"] for n in cluster["nodes"])):
        with psycopg.connect(**platform.conninfo(cluster, host)) as conn:
            assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
            rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(expected),))
            assert dict(rows.fetchall()) == expected, host
            recovery[host] = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    assert recovery[cluster["writerEndpoint"]] == (False,) and recovery[cluster["readerEndpoints"][0]] == (True,)
    assert sorted(recovery[n["address"]] for n in cluster["nodes"]) == [(False,), (True,), (True,)]


def test_health_and_analytics_migrate_work_with_the_outputs_file(platform: Platform) -> None:
    health = cli(platform.env, "health", "--outputs", str(platform.outputs_path), "--sslmode", "require")
    assert health.returncode == 0, health.stdout[-3000:] + health.stderr[-2000:]
    target = ["--outputs", str(platform.outputs_path), "--sslmode", "require"]  # --cluster analytics: the default
    migrate = cli(platform.env, "analytics", "migrate", *target)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-2000:]
    assert "strategy: partman" in migrate.stdout
    status = cli(platform.env, "analytics", "status", *target, "--json")
    assert status.returncode == 0, status.stdout[-3000:] + status.stderr[-2000:]
    document = json.loads(status.stdout)
    assert document["strategy"] == "partman"
    assert document["migrations"] and {m["state"] for m in document["migrations"]} == {"applied"}, document


def test_a_connected_client_survives_a_kill_9_of_the_analytics_leader(platform: Platform) -> None:
    failover = kill_leader_under_a_writer(platform, _analytics(platform), ANALYTICS, "local_analytics_failover")
    assert failover.leader.cluster == ANALYTICS
    assert failover.resumed_seconds <= 60, f"writes resumed after {failover.resumed_seconds:.1f} s"
    assert set(failover.acknowledged) <= failover.present


def test_down_leaves_no_process_port_namespace_or_directory(platform: Platform) -> None:
    assert_down_leaves_nothing(platform)
