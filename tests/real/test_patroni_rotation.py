"""Credential rotation of a self-hosted Patroni cluster, end to end on a real cluster: three Patroni 3.0.2 nodes
with PostgreSQL 15 and etcd on loopback (tests/servers/patroni.py), Secrets Manager in moto, the credentials agent
of every node (components/selfhosted/credentials_agent/agent.py) and the rotation function's four steps
(components/selfhosted/rotation_function/handler.py). The function's waits run a pass of every node's agent, as the
nodes' 30-second timers would while it sleeps.

After each rotation the new password is the only one that works, and what uses it still works: replicas stream
again after their connections are cut (primary_conninfo), Patroni reconnects as superuser, the REST API accepts
the new password and refuses the old one, the admin role logs in.
"""

import json
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws
from psycopg.conninfo import make_conninfo

from components.selfhosted.credentials_agent.agent import TAG_PREFIX
from components.selfhosted.rotation_function import handler as rotation
from scripts.servers.ports import LOOPBACK
from scripts.servers.process import wait_until
from tests.secrets_rotation import begin_rotation, cancel_rotation
from tests.servers.patroni import PatroniDrillCluster
from tests.servers.patroni_rotation import ADMIN, REGION, RotationRig

pytestmark = pytest.mark.servers


def can_log_in(node: Any, user: str, password: str, *, replication: bool = False, dbname: str = "postgres") -> bool:
    extra = {"replication": "true"} if replication else {}
    conninfo = make_conninfo(
        host=LOOPBACK, port=node.endpoint.pg_port, user=user, password=password, dbname=dbname, **extra
    )
    try:
        with psycopg.connect(conninfo, connect_timeout=5, autocommit=True) as conn:
            if replication:
                conn.pgconn.exec_(b"IDENTIFY_SYSTEM")
            else:
                conn.execute("select 1")
        return True
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc), exc
        return False


def rest_reload(node: Any, password: str) -> int:
    """POST /reload: an unsafe endpoint, so Patroni asks for the REST API credentials."""
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{node.endpoint.restapi_port}/reload",
        method="POST",
        headers={"Authorization": "Basic " + b64encode(f"patroni:{password}".encode()).decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def streaming_replicas(rig: RotationRig) -> int:
    leader = rig.cluster.leader()
    assert leader is not None
    with psycopg.connect(rig.cluster.superuser_dsn(leader), autocommit=True) as conn:
        return conn.execute("select count(*) from pg_stat_replication where state = 'streaming'").fetchone()[0]


@pytest.fixture(scope="module")
def rig() -> Iterator[RotationRig]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        cluster = PatroniDrillCluster()
        try:
            cluster.start()
            rig = RotationRig.create(cluster, client)
            reports = rig.run_agents()
            # In sync from the start: the leader logged in as every role and altered nothing.
            assert [r["leader"] for r in reports].count(True) == 1
            assert all(not r["altered"] and not r["failed"] for r in reports), reports
            yield rig
        finally:
            cluster.close()


def test_replication_password_rotates_and_replicas_stream_with_it(rig: RotationRig) -> None:
    old = rig.password("replication")
    token = rig.rotate("replication")
    new = rig.password("replication")
    versions = rig.secrets.describe_secret(SecretId=rig.arns["replication"])["VersionIdsToStages"]
    assert "AWSCURRENT" in versions[token] and new != old
    leader = rig.cluster.leader()
    assert leader is not None
    assert can_log_in(leader, "replicator", new, replication=True)
    assert not can_log_in(leader, "replicator", old, replication=True)
    time.sleep(3 * rig.cluster.timing.loop_wait)  # Patroni applies the reload in its next cycle
    # Cut the replicas' connections: they can only come back with the new password in primary_conninfo.
    with psycopg.connect(rig.cluster.superuser_dsn(leader), autocommit=True) as conn:
        cut = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_replication").fetchone()[0]
    assert cut == 2
    wait_until(lambda: streaming_replicas(rig) == 2, what="both replicas streaming again", timeout=30)
    tags = rig.secrets.describe_secret(SecretId=rig.arns["replication"]).get("Tags", [])
    assert not [t for t in tags if t["Key"].startswith(TAG_PREFIX)], "acknowledgements left after finishSecret"


def test_superuser_password_rotates_and_patroni_reconnects_with_it(rig: RotationRig) -> None:
    old = rig.password("superuser")
    rig.rotate("superuser")
    new = rig.password("superuser")
    rig.cluster.passwords["superuser"] = new
    leader = rig.cluster.leader()
    assert leader is not None
    assert can_log_in(leader, "postgres", new) and not can_log_in(leader, "postgres", old)
    time.sleep(3 * rig.cluster.timing.loop_wait)
    cut_at = time.time()
    with psycopg.connect(rig.cluster.superuser_dsn(leader), autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'Patroni' "
            "and pid <> pg_backend_pid()"
        )

    def patroni_reconnected() -> bool:
        with psycopg.connect(rig.cluster.superuser_dsn(leader), autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where application_name = 'Patroni' "
                "and backend_start > to_timestamp(%s)",
                (cut_at,),
            ).fetchone()
        return row is not None and row[0] >= 1

    wait_until(patroni_reconnected, what="Patroni's new superuser connection", timeout=30)
    assert rig.cluster.leader() is leader


def test_rest_api_password_rotates(rig: RotationRig) -> None:
    old = rig.password("restapi")
    rig.rotate("restapi")
    new = rig.password("restapi")
    time.sleep(3 * rig.cluster.timing.loop_wait)
    for node in rig.cluster.nodes:
        assert rest_reload(node, new) in (200, 202), node.name
        assert rest_reload(node, old) == 401, node.name


def test_admin_and_rewind_passwords_rotate(rig: RotationRig) -> None:
    for key, user, dbname in (("admin", ADMIN, "postgres"), ("rewind", "rewind", "postgres")):
        old = rig.password(key)
        rig.rotate(key)
        new = rig.password(key)
        for node in rig.cluster.nodes:  # set on the leader, replicated to every node
            wait_until(
                lambda n=node, u=user, p=new, d=dbname: can_log_in(n, u, p, dbname=d),
                what=f"{user} on {node.name}",
                timeout=10,
            )
            assert not can_log_in(node, user, old, dbname=dbname)


def test_a_cancelled_rotation_falls_back_to_the_current_password(rig: RotationRig) -> None:
    """The agents applied a pending password that never became current: once AWSPENDING is gone, the next tick
    sets the current one again on every node and in the database."""
    key = "replication"
    current = rig.password(key)
    token = begin_rotation(rig.arns[key], REGION, "cryb-test-analytics-rotation")
    rotation.rotate(
        {"SecretId": rig.arns[key], "ClientRequestToken": token, "Step": "createSecret"},
        rig.secrets,
        [n.name for n in rig.cluster.nodes],
    )
    rig.run_agents()  # every node runs with the pending password...
    rig.run_agents()  # ...so the leader sets it
    pending = rig.password(key, "AWSPENDING")
    leader = rig.cluster.leader()
    assert leader is not None
    assert can_log_in(leader, "replicator", pending, replication=True)
    cancel_rotation(rig.arns[key], REGION)
    reports = rig.run_agents()
    assert sum("replication" in r["altered"] for r in reports) == 1  # the leader, once
    assert can_log_in(leader, "replicator", current, replication=True)
    assert not can_log_in(leader, "replicator", pending, replication=True)
    for node in rig.cluster.nodes:
        assert (
            json.loads((node.config_dir / "secrets.yml").read_text())["postgresql"]["authentication"]["replication"][
                "password"
            ]
            == current
        )


def test_the_set_step_waits_for_every_node_and_the_leader(rig: RotationRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """setSecret does not return before the last acknowledgement: with one node's agent stopped it gives up,
    naming that node, and the secret keeps its current version."""
    key = "rewind"
    current = rig.password(key)
    token = begin_rotation(rig.arns[key], REGION, "cryb-test-analytics-rotation")
    nodes = [n.name for n in rig.cluster.nodes]
    event = {"SecretId": rig.arns[key], "ClientRequestToken": token}
    rotation.rotate({**event, "Step": "createSecret"}, rig.secrets, nodes)
    leader = rig.cluster.leader()
    assert leader is not None
    silent = next(n.name for n in rig.cluster.nodes if n is not leader)  # a replica whose agent has stopped
    live = [a for a in rig.agents if a.config.node != silent]
    monkeypatch.setattr(rotation, "POLL_ATTEMPTS", 4)  # four ticks stand for the 13 minutes
    reports: list[dict[str, Any]] = []
    with pytest.raises(rotation.RotationError, match=f"{TAG_PREFIX}{silent}.*withdrawn"):
        rotation.rotate(
            {**event, "Step": "setSecret"},
            rig.secrets,
            nodes,
            sleep=lambda _s: reports.extend(a.run() for a in live),
        )
    # The leader never set the password a node did not run with, and the function took the version back.
    assert not any(r["altered"] for r in reports)
    assert any(r["waiting"].get(key) == [silent] for r in reports)
    assert rig.password(key) == current
    assert "AWSPENDING" not in rig.secrets.describe_secret(SecretId=rig.arns[key])["VersionIdsToStages"][token]
    rig.run_agents()
    assert can_log_in(leader, "rewind", current)


def test_an_empty_pending_version_changes_nothing(rig: RotationRig) -> None:
    """Secrets Manager's configuration test (and a failed rotation) leave an AWSPENDING version without a value:
    the agents keep the current password and acknowledge nothing, and testSecret passes on it."""
    key = "superuser"
    current = rig.password(key)
    token = begin_rotation(rig.arns[key], REGION, "cryb-test-analytics-rotation")
    reports = rig.run_agents()
    assert all(not r["wrote"] and not r["altered"] and not r["tagged"] for r in reports), reports
    rotation.rotate(
        {"SecretId": rig.arns[key], "ClientRequestToken": token, "Step": "testSecret"},
        rig.secrets,
        [n.name for n in rig.cluster.nodes],
    )
    cancel_rotation(rig.arns[key], REGION)
    leader = rig.cluster.leader()
    assert leader is not None and can_log_in(leader, "postgres", current)


def test_a_failover_in_the_middle_of_a_rotation_converges(rig: RotationRig) -> None:
    """The leader dies after every node ran with the new password but before it set it: the new leader sets it,
    and the rotation finishes. (Last in this module: it leaves the cluster one node short.)"""
    key = "admin"
    nodes = [n.name for n in rig.cluster.nodes]
    token = begin_rotation(rig.arns[key], REGION, "cryb-test-analytics-rotation")
    event = {"SecretId": rig.arns[key], "ClientRequestToken": token}
    rotation.rotate({**event, "Step": "createSecret"}, rig.secrets, nodes)
    old_leader = rig.cluster.leader()
    assert old_leader is not None
    for agent in rig.agents:  # every node's tick, but the leader's first: it still waits for the others
        if agent.config.node == old_leader.name:
            assert agent.run()["waiting"] == {key: [n for n in nodes if n != old_leader.name]}
    for agent in rig.agents:
        if agent.config.node != old_leader.name:
            agent.run()
    rig.cluster.kill(old_leader)
    wait_until(lambda: rig.cluster.leader() not in (None, old_leader), what="a new leader", timeout=60)
    new_leader = rig.cluster.leader()
    assert new_leader is not None
    for step in ("setSecret", "testSecret", "finishSecret"):
        rotation.rotate({**event, "Step": step}, rig.secrets, nodes, sleep=rig.run_agents)
    new = rig.password(key)
    assert rig.password(key, "AWSCURRENT") == new
    assert can_log_in(new_leader, ADMIN, new)
