"""Failover drill on real etcd 3.4, Patroni 3.0.2 and PostgreSQL 15, from the patroni.yml the component renders.

Correctness only (speed figures are `python -m scripts bench patroni-failover`): after kill -9 of the leader's
PostgreSQL and Patroni, a new leader accepts writes and holds every acknowledged commit, and the health
endpoints answer as the writer/reader load balancers need. The drill code is shared with the benchmark
(tests/servers/patroni.py).
"""

import dataclasses
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from components.selfhosted.patroni_config import node_inputs
from scripts.servers.process import wait_until
from tests.servers.patroni import (
    DRILL_INSTANCE_TYPE,
    DRILL_MEMORY,
    DRILL_TIMING,
    SCOPE,
    PatroniDrillCluster,
    loopback_inputs,
    run_failover_drill,
)

pytestmark = pytest.mark.servers

# Substituted on loopback; everything else must be exactly what the component renders.
SUBSTITUTED = {
    "nodes",  # addresses and ports
    "parameters",  # memory sizes only (checked below)
    "data_dir",
    "bin_dir",
    "socket_dir",
    "pgpass",
    "log_dir",
    "pgbackrest_config_path",
    "tls",
    "etcd_tls",  # the loopback drill runs plain etcd; TLS is proven on the booted nodes (tests/real/sandbox)
    "watchdog",
    "post_bootstrap",
    "on_role_change",
    "patroni_log_dir",
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[PatroniDrillCluster]:
    """One cluster for the module; the failover test runs last because it kills the leader."""
    drill = PatroniDrillCluster()
    try:
        drill.start()
        yield drill
    finally:
        drill.close()
        assert drill.leftover_pids() == [], "processes of the drill outlived it"


def test_the_drill_runs_the_rendering_of_the_component(tmp_path: Path) -> None:
    production = node_inputs(
        scope=SCOPE,
        hosts=["10.20.64.10", "10.20.80.10", "10.20.96.10"],
        node_index=0,
        instance_type=DRILL_INSTANCE_TYPE,
        postgres_major="15",
        synchronous_mode=True,
        synchronous_mode_strict=True,
        timing=DRILL_TIMING,
        timescaledb=False,
        client_cidrs=["127.0.0.1/32"],
    )
    drill = loopback_inputs(production, 0, list(range(20000, 20012)), tmp_path)
    changed = {f.name for f in dataclasses.fields(production) if getattr(production, f.name) != getattr(drill, f.name)}
    assert changed <= SUBSTITUTED
    params_changed = {k for k, v in production.parameters.items() if drill.parameters.get(k) != v}
    assert params_changed <= set(DRILL_MEMORY)
    assert [n.name for n in drill.nodes] == [n.name for n in production.nodes]


def test_health_endpoints_answer_as_the_load_balancers_need(cluster: PatroniDrillCluster) -> None:
    leader = cluster.leader()
    assert leader is not None
    replicas = [n for n in cluster.nodes if n is not leader]
    assert (leader.status("/primary"), leader.status("/replica")) == (200, 503)
    for replica in replicas:
        assert (replica.status("/primary"), replica.status("/replica")) == (503, 200)
    # As many synchronous standbys as rendered (synchronous_standby_count: both replicas of three nodes); the second
    # is assigned in the Patroni loop after it streams.
    synchronous = leader.inputs.synchronous_node_count
    assert synchronous == 2
    expected = ["200"] * synchronous + ["503"] * (len(replicas) - synchronous)
    wait_until(lambda: sorted(str(r.status("/sync")) for r in replicas) == expected, what="sync standbys", timeout=30)


def test_unsafe_rest_calls_need_the_credentials(cluster: PatroniDrillCluster) -> None:
    node = cluster.nodes[0]
    url = f"http://127.0.0.1:{node.endpoint.restapi_port}/restart"
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401


def test_wal_is_archived_through_the_rendered_pgbackrest_command(cluster: PatroniDrillCluster) -> None:
    leader = cluster.leader()
    assert leader is not None

    def stanza_created() -> bool:
        # An archive-push already under way holds the archive lock stanza-create needs (pgBackRest error 50), as
        # the rendered leader callback's retry loop knows.
        try:
            cluster.pgbackrest(leader, "stanza-create")
        except RuntimeError as exc:
            if "unable to acquire lock" not in str(exc):
                raise
            return False
        return True

    wait_until(stanza_created, what="stanza-create", timeout=30)
    with psycopg.connect(cluster.superuser_dsn(leader), autocommit=True) as conn:
        conn.execute("create table if not exists archived (n int)")
        conn.execute("insert into archived values (1)")
        conn.execute("select pg_switch_wal()")

        def archived() -> bool:
            row = conn.execute("select archived_count, failed_count from pg_stat_archiver").fetchone()
            return row is not None and row[0] > 0

        wait_until(archived, what="a WAL segment archived by pgBackRest", timeout=30)
    info = cluster.pgbackrest(leader, "info")
    assert "cipher: aes-256-cbc" in info and "wal archive min/max (15): 0000000" in info  # encrypted, archived


def test_killing_the_leader_loses_no_acknowledged_commit(cluster: PatroniDrillCluster) -> None:
    result = run_failover_drill(cluster)
    print(
        f"\nfailover: {result.old_leader} -> {result.new_leader};"
        f" new leader after {result.seconds_to_new_leader:.1f} s,"
        f" first write after {result.seconds_to_first_write:.1f} s; {result.acknowledged_total} acknowledged commits,"
        f" {len(result.lost)} lost"
    )
    assert result.new_leader != result.old_leader
    assert result.acknowledged_total > result.acknowledged_before_kill  # the new leader accepted writes
    assert result.lost == []  # synchronous mode: zero acknowledged-commit loss
    old, new = result.health_after[result.old_leader], result.health_after[result.new_leader]
    assert old == {"/primary": None, "/replica": None}  # nothing answers: both target groups drop it
    assert new == {"/primary": 200, "/replica": 503}
    survivors = [h for name, h in result.health_after.items() if name not in (result.old_leader, result.new_leader)]
    assert survivors == [{"/primary": 503, "/replica": 200}]
    # A generous bound, not a benchmark: failover must happen within a few ttl.
    assert result.seconds_to_new_leader < 4 * DRILL_TIMING.ttl
