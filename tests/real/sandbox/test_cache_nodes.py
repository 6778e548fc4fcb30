"""The prod stack's self-hosted cache (`cache.engine: ec2`): its 6 nodes booted from their launch templates' user
data exactly as the preview records it (scripts/sandbox, image: scripts/sandbox/cache.py). The rendered bootstrap
forms the cluster; the `app` user works over TLS; kill -9 of a master fails over to its replica within the target;
the killed node rejoins as a replica. The scenarios run in order on one cluster (module fixture)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from cryptography import x509
from redis.cluster import RedisCluster
from redis.exceptions import NoPermissionError

from components.cache.cluster_plan import CLUSTER_SLOTS
from components.cache.metrics_agent import METRICS, NAMESPACE
from components.cache.node_rotation_function import handler as node_rotation
from components.cache.redis_conf import FAILOVER_TARGET_SECONDS
from scripts.local.nodes import wait_for
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox.cache import KERNEL_DEFAULT_OVERCOMMIT, OVERCOMMIT, VALKEY_PROGRAMS
from scripts.sandbox.node import CommandError, Node
from tests.real.sandbox.cache_nodes import CacheCluster, booted_cache, cache_ec2_evaluation
from tests.real.sandbox.coverage import unaccounted_files, used_files

pytestmark = pytest.mark.servers

LOG = "/var/log/cryb-cache/server.log"
MEASURED: dict[str, float] = {}
FAILOVER_KEY: list[str] = []


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    return cache_ec2_evaluation(tmp_path_factory.mktemp("cache-ec2-config"))


@pytest.fixture(scope="module")
def cache(evaluation: Evaluation) -> Iterator[CacheCluster]:
    host_overcommit = open(OVERCOMMIT).read()
    with booted_cache(evaluation) as booted:
        yield booted
    assert open(OVERCOMMIT).read() == host_overcommit, "the sandbox changed this machine's vm.overcommit_memory"
    print("cache sandbox measurements:", {k: round(v, 2) for k, v in MEASURED.items()})


def admin(cache: CacheCluster, node: Node, timeout: float = 2) -> redis.Redis:
    """A connection to one node as `admin` over TLS (made on the sandbox network)."""
    with cache.on_sandbox_network():
        client = redis.Redis(
            host=node.alias, port=cache.port, username="admin", password=cache.password("admin"), ssl=True,
            ssl_ca_certs=str(cache.ca_file()), ssl_check_hostname=False, socket_timeout=timeout,
            socket_connect_timeout=timeout, decode_responses=True,
        )  # fmt: skip
        client.ping()
    return client


def cluster_info(cache: CacheCluster, node: Node) -> dict[str, str]:
    info: dict[str, object] = admin(cache, node).execute_command("CLUSTER INFO")  # type: ignore[assignment]
    return {k: str(v) for k, v in info.items()}


def role(cache: CacheCluster, node: Node) -> str:
    try:
        return str(admin(cache, node, timeout=1).info("replication")["role"])
    except (redis.RedisError, OSError):
        return "down"


def by_alias(cache: CacheCluster, address: str) -> Node:
    return next(n for n in cache.box.nodes if n.alias == address.split(":")[0])


def replicas_of(cache: CacheCluster, via: Node) -> dict[str, str]:
    """master node name -> replica node name, as the cluster sees it (CLUSTER NODES of `via`)."""
    nodes: dict[str, dict[str, object]] = admin(cache, via).execute_command("CLUSTER NODES")  # type: ignore[assignment]
    ids = {str(n["node_id"]): by_alias(cache, address).name for address, n in nodes.items()}
    return {ids[str(n["master_id"])]: ids[str(n["node_id"])] for n in nodes.values() if "slave" in str(n["flags"])}


def test_six_nodes_form_the_cluster_with_the_rendered_bootstrap(cache: CacheCluster) -> None:
    nodes = cache.box.nodes
    assert len(nodes) == 6
    # Node 0's boot ran the rendered bootstrap to its end ("cluster of 6 nodes is ok"): that is the formation time.
    assert "bootstrap: cluster of 6 nodes is ok" in nodes[0].console.read_text()
    MEASURED["cluster_formed_s"] = cache.boot_seconds[nodes[0].name]
    for node in nodes:
        info = cluster_info(cache, node)
        assert info["cluster_state"] == "ok", (node.name, info)
        assert info["cluster_slots_assigned"] == str(CLUSTER_SLOTS) and info["cluster_slots_ok"] == str(CLUSTER_SLOTS)
        assert info["cluster_known_nodes"] == "6"
    # Each master has its planned replica, in another AZ (the plan, from the launch templates' tags).
    planned = {cache.planned_role(n): n for n in nodes}
    seen = replicas_of(cache, nodes[1])
    for shard in range(3):
        master, replica = planned[f"s{shard}-master"], planned[f"s{shard}-replica1"]
        assert seen.get(master.name) == replica.name, seen
        assert master.spec.availability_zone != replica.spec.availability_zone
        assert role(cache, master) == "master" and role(cache, replica) == "slave"


def test_the_image_substitutes_valkey_and_the_overcommit_setting_is_the_rendered_one(cache: CacheCluster) -> None:
    for node in cache.box.nodes:
        notes = "\n".join(node.notes)
        for program, served_by in VALKEY_PROGRAMS.items():
            assert f"image: {program} is this machine's {served_by}" in notes
        assert "dnf" in node.skipped()
        # The rendered `sysctl -p` wrote the node's stand-in; the server read it (no warning) and started.
        assert node.standin(OVERCOMMIT).read_text().strip() == "1"
        log = node.path(LOG).read_text()
        assert "Ready to accept connections" in log
        assert "overcommit_memory" not in log, log
        # The rendered useradd made the service user in the node's /etc only.
        assert "valkey:" in node.run(["getent", "passwd", "valkey"]).stdout
    assert "valkey:" not in open("/etc/passwd").read()
    # The stand-in starts at the kernel's default, so a node whose sysctl step did not run would warn; where this
    # machine's own setting is not 1, the absence of the warning also shows the server read the stand-in.
    assert KERNEL_DEFAULT_OVERCOMMIT == "0"


def test_the_rendered_unit_verifies_with_systemd_analyze(cache: CacheCluster) -> None:
    node = cache.box.nodes[2]
    result = node.run(["systemd-analyze", "verify", "--root=/", "cryb-cache.service"], check=False)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "cryb-cache" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def app_client(cache: CacheCluster, user: str = "app") -> RedisCluster:
    with cache.on_sandbox_network():
        client = RedisCluster(
            host=cache.box.nodes[1].alias, port=cache.port, username=user, password=cache.password(user), ssl=True,
            ssl_ca_certs=str(cache.ca_file()), ssl_check_hostname=False, decode_responses=True, socket_timeout=2,
        )  # fmt: skip
        # Every node's connection is made now, on the sandbox network.
        for node in client.get_nodes():
            client.get_redis_connection(node).ping()
    return client


def test_app_user_runs_info_get_and_set_over_tls_with_the_stored_ca(cache: CacheCluster) -> None:
    # Each node's certificate is signed by the CA in Secrets Manager and names the node's VPC address (from IMDS).
    for node in cache.box.nodes:
        cert = x509.load_pem_x509_certificate(node.path("/etc/cryb-cache/tls/node.crt").read_bytes())
        addresses = [str(a) for a in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                     .get_values_for_type(x509.IPAddress)]  # fmt: skip
        assert addresses == [node.spec.vpc_address]
    client = app_client(cache)
    with cache.on_sandbox_network():
        info = client.info()
        assert info  # INFO is allowed (issue 13, defect 4)
        for i in range(200):
            assert client.set(f"sandbox:{i}", str(i))
        assert [client.get(f"sandbox:{i}") for i in range(200)] == [str(i) for i in range(200)]
        reader = app_client(cache, "reader")
        assert reader.info()
        assert reader.get("sandbox:7") == "7"
        with pytest.raises(NoPermissionError):
            reader.set("sandbox:7", "x")
    client.close()
    reader.close()


def published(cache: CacheCluster, node: Node, since: float) -> dict[str, float]:
    """The latest value of each metric the node's agent put into CloudWatch (moto) since `since`."""
    cloudwatch = cache.moto.boto3_client("cloudwatch")
    dimensions = [
        {"Name": "CacheCluster", "Value": "cryb-prod-cache"},
        {"Name": "Node", "Value": cache.planned_role(node)},
    ]
    found = {}
    for name in METRICS:
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName=name, Dimensions=dimensions, StartTime=since - 1,
            EndTime=time.time() + 60, Period=60, Statistics=["Maximum"],
        )["Datapoints"]  # fmt: skip
        if points:
            found[name] = max(p["Maximum"] for p in points)
    return found


def run_metrics_agent(node: Node) -> None:
    try:
        node.run(["systemctl", "start", "cryb-cache-metrics.service"], timeout=60)
    except CommandError:
        print(node.path("/var/lib/cryb-sandbox/journal/cryb-cache-metrics.service.log").read_text()[-3000:])
        raise


def test_the_metrics_agent_publishes_each_nodes_metrics_under_elasticaches_names(cache: CacheCluster) -> None:
    """The rendered cryb-cache-metrics unit on every node reads the real server (INFO, CLUSTER INFO/NODES over TLS
    as admin) and puts the alarm set's metrics into CloudWatch (moto) with {CacheCluster, Node}."""
    with cache.on_sandbox_network():
        app_client(cache).set("metrics:probe", "x" * 1000)
    since = time.time()
    for node in cache.box.nodes:
        run_metrics_agent(node)
    for node in cache.box.nodes:
        values = published(cache, node, since)
        assert set(values) >= set(METRICS) - {"ReplicationLag"}, (node.name, values)
        assert values["ClusterStateOk"] == 1.0 and values["ClusterFailedNodes"] == 0.0, (node.name, values)
        assert values["MasterLinkHealthStatus"] == 1.0 and values["CurrConnections"] >= 1
        assert 0 < values["DatabaseMemoryUsagePercentage"] < 90 and 0 <= values["EngineCPUUtilization"] <= 100
        if "replica" in cache.planned_role(node):
            assert 0 <= values["ReplicationLag"] <= 10, values  # seconds since the master's last I/O
        else:
            assert "ReplicationLag" not in values
    MEASURED["metrics_nodes"] = len(cache.box.nodes)


ROTATION_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cryb-prod-cache-rotation-function"
ROTATION_STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def run_credentials_agent(node: Node) -> None:
    try:
        node.run(["systemctl", "start", "cryb-cache-credentials.service"], timeout=60)
    except CommandError:
        print(node.path("/var/lib/cryb-sandbox/journal/cryb-cache-credentials.service.log").read_text()[-3000:])
        raise


def run_credentials_agents(cache: CacheCluster) -> None:
    """A tick of every node's timer, at once as on the nodes: the rendered cryb-cache-credentials unit (as the
    server's user)."""
    with ThreadPoolExecutor(len(cache.box.nodes)) as pool:
        list(pool.map(run_credentials_agent, cache.box.nodes))


def can_auth(cache: CacheCluster, node: Node, user: str, password: str) -> bool:
    with cache.on_sandbox_network():
        client = redis.Redis(
            host=node.alias, port=cache.port, username=user, password=password, ssl=True,
            ssl_ca_certs=str(cache.ca_file()), ssl_check_hostname=False, socket_timeout=2, socket_connect_timeout=2,
        )  # fmt: skip
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False
        finally:
            client.close()


class PollingClient:
    """An application that re-reads its user's secret (AWSCURRENT) on every poll and opens new connections with it
    to every node, as the contract asks of clients (docs/cache.md#self-hosted-password-rotation)."""

    def __init__(self, cache: CacheCluster, user: str) -> None:
        self.cache, self.user = cache, user
        self.secrets = cache.moto.boto3_client("secretsmanager")
        self.polls, self.failed = 0, 0

    def poll(self) -> None:
        value = self.secrets.get_secret_value(SecretId=self.cache.arns[self.user], VersionStage="AWSCURRENT")[
            "SecretString"
        ]
        password = json.loads(value)["password"]
        self.polls += 1
        try:
            if not all(can_auth(self.cache, node, self.user, password) for node in self.cache.box.nodes):
                self.failed += 1
        except (redis.RedisError, OSError):
            self.failed += 1


def acl_hashes(node: Node, user: str) -> list[str]:
    """The password hashes of the user in the node's ACL file (what a restarted server loads)."""
    for line in node.path("/etc/cryb-cache/users.acl").read_text().splitlines():
        if line.startswith(f"user {user} "):
            return [word[1:] for word in line.split() if word.startswith("#")]
    raise AssertionError(f"no ACL line for {user}")


def test_every_acl_user_rotates_on_every_node_under_polling_clients(cache: CacheCluster) -> None:
    """The rotation function's four steps (in this process, against the stand-in Secrets Manager) and the rendered
    credentials agent on every node (its unit started as the function's waits tick): each user's new password
    works on every node and the old one no longer does; the ACL file and masterauth follow; clients re-reading the
    secret on every poll never fail, and a connection opened before the rotations stays up."""
    secrets = cache.moto.boto3_client("secretsmanager")
    nodes = [cache.planned_role(n) for n in cache.box.nodes]
    clients = [PollingClient(cache, "app"), PollingClient(cache, "reader")]
    with cache.on_sandbox_network():
        kept = admin(cache, cache.box.nodes[1])  # authenticated with admin's password before its rotation

    def tick(_seconds: float = 0.0) -> None:
        run_credentials_agents(cache)
        for client in clients:
            client.poll()

    timings = []
    for user in ("app", "reader", "admin", "replicator"):
        old = cache.password(user)
        failed_before = [c.failed for c in clients]
        started = time.monotonic()
        token = cache.moto.begin_rotation(cache.arns[user], ROTATION_FUNCTION_ARN)
        for step in ROTATION_STEPS:
            node_rotation.rotate({"SecretId": cache.arns[user], "ClientRequestToken": token, "Step": step},
                                 secrets, nodes, sleep=tick)  # fmt: skip
            for client in clients:
                client.poll()
        tick()  # the timer tick after finishSecret: every node drops the old password
        timings.append(time.monotonic() - started)
        cache._read.clear()
        new = cache.password(user)
        versions = secrets.describe_secret(SecretId=cache.arns[user])
        assert "AWSCURRENT" in versions["VersionIdsToStages"][token] and new != old
        assert not [t for t in versions.get("Tags", []) if t["Key"].startswith("cryb-rotation-")]
        for node in cache.box.nodes:
            assert can_auth(cache, node, user, new), (user, node.name)
            assert not can_auth(cache, node, user, old), (user, node.name)
            assert acl_hashes(node, user) == [hashlib.sha256(new.encode()).hexdigest()]
        # At most one failed poll per rotation is the contract; re-reading clients see none.
        assert [c.failed - b for c, b in zip(clients, failed_before, strict=True)] == [0, 0], user
    MEASURED["rotation_s_max"] = max(timings)
    MEASURED["rotation_client_polls"] = sum(c.polls for c in clients)
    MEASURED["rotation_client_failed_polls"] = sum(c.failed for c in clients)
    for user in ("app", "reader", "admin", "replicator"):
        cache.password(user)  # read here: the helpers below run on the sandbox network, where moto is not
    with cache.on_sandbox_network():
        assert kept.ping()  # existing connections stay authenticated
    # The replicas log in to their masters with the new replication password: cut their links, they come back.
    replicator = cache.password("replicator")
    for node in cache.box.nodes:
        assert node.path("/etc/cryb-cache/secrets.conf").read_text() == f'masterauth "{replicator}"\n'
        assert admin(cache, node).config_get("masterauth") == {"masterauth": replicator}
    masters = [n for n in cache.box.nodes if role(cache, n) == "master"]
    for master in masters:
        admin(cache, master).execute_command("CLIENT", "KILL", "TYPE", "replica")

    def linked() -> bool:
        return all(
            admin(cache, n).info("replication")["master_link_status"] == "up"
            for n in cache.box.nodes if n not in masters
        )  # fmt: skip

    wait_for("every replica to reconnect with the new replication password", linked, 30, 0.25)


def _serves(cache: CacheCluster, node: Node, key: str, value: str) -> bool:
    try:
        with cache.on_sandbox_network():
            client = admin(cache, node, timeout=0.5)
            return client.get(key) == value
    except (redis.RedisError, OSError):
        return False


def _host_of(client: RedisCluster, key: str) -> str:
    node = client.get_node_from_key(key)
    return node.host if node else ""


def test_kill_9_of_a_master_fails_over_to_its_replica_within_the_target(cache: CacheCluster) -> None:
    nodes = cache.box.nodes
    planned = {cache.planned_role(n): n for n in nodes}
    master, replica = planned["s1-master"], planned["s1-replica1"]
    client = app_client(cache)
    with cache.on_sandbox_network():
        key = next(f"failover:{i}" for i in range(10000) if _host_of(client, f"failover:{i}") == master.alias)
        client.set(key, "before")
        FAILOVER_KEY.append(key)
        client.execute_command("WAIT", 1, 2000, target_nodes=client.get_node_from_key(key))  # on the replica too
    client.close()
    killed_at = time.monotonic()
    master.kill()
    wait_for("the replica to serve the master's slots", lambda: _serves(cache, replica, key, "before"), 30, 0.05)
    MEASURED["failover_s"] = time.monotonic() - killed_at
    assert role(cache, replica) == "master"
    assert MEASURED["failover_s"] <= FAILOVER_TARGET_SECONDS, MEASURED
    wait_for("cluster_state ok", lambda: cluster_info(cache, nodes[0])["cluster_state"] == "ok", 15)
    with cache.on_sandbox_network():
        assert admin(cache, replica).set(key, "during-outage")  # the promoted replica takes writes for the slot
    # The node out of the cluster, as the survivors' agents publish it (the `node-out` alarm's metric).
    since = time.time()
    run_metrics_agent(nodes[0])
    assert published(cache, nodes[0], since)["ClusterFailedNodes"] == 1.0


def _value_on_replica(cache: CacheCluster, node: Node, key: str) -> str | None:
    with cache.on_sandbox_network():
        client = admin(cache, node)
        client.execute_command("READONLY")
        value = client.get(key)
        return None if value is None else str(value)


def test_the_killed_node_rejoins_as_a_replica_when_it_boots_again(cache: CacheCluster) -> None:
    nodes = cache.box.nodes
    planned = {cache.planned_role(n): n for n in nodes}
    old, new_master = planned["s1-master"], planned["s1-replica1"]
    assert not old.running()
    started = time.monotonic()
    old.boot()  # a reboot: /run and /tmp empty, sysctl.d applied, the enabled cryb-cache unit starts

    def rejoined() -> bool:
        try:
            replication = admin(cache, old, timeout=1).info("replication")
        except (redis.RedisError, OSError):
            return False
        return (
            replication["role"] == "slave"
            and replication["master_link_status"] == "up"
            and str(replication["master_host"]) == new_master.alias
        )

    wait_for("the killed node to rejoin as a replica of its old replica", rejoined, 60, 0.25)
    MEASURED["rejoin_s"] = time.monotonic() - started
    assert replicas_of(cache, nodes[0]).get(new_master.name) == old.name
    assert all(cluster_info(cache, n)["cluster_state"] == "ok" for n in nodes)
    # It replicates from the new master: the write made while it was down is on it.
    key = FAILOVER_KEY[0]
    wait_for("the write made during the outage", lambda: _value_on_replica(cache, old, key) == "during-outage", 10)
    assert old.standin(OVERCOMMIT).read_text().strip() == "1"
    assert "overcommit_memory" not in old.path(LOG).read_text()


def _owns(client: redis.Redis, key: str) -> bool:
    try:
        client.get(key)
        return True
    except redis.exceptions.MovedError:
        return False


def replace_instance(node: Node) -> float:
    """What a replaced instance is: the machine dies (kill -9), a new one with the same address boots from the same
    launch template with empty disks, and cloud-init runs again."""
    node.replace()
    return node.boot()


def test_a_replaced_node_with_empty_data_rejoins_as_the_replica_of_the_master_that_lost_it(cache: CacheCluster) -> None:
    """Node 0 (s0-master, the one that also carries the bootstrap) dies; its replica takes over; a new instance
    boots the rendered user data with nothing on disk and rejoins by itself as the new master's replica."""
    nodes = cache.box.nodes
    planned = {cache.planned_role(n): n for n in nodes}
    lost, survivor = planned["s0-master"], planned["s0-replica1"]
    assert lost is nodes[0]
    lost.kill()
    wait_for("the replica to take over", lambda: role(cache, survivor) == "master", 30, 0.1)
    wait_for("cluster_state ok", lambda: cluster_info(cache, nodes[1])["cluster_state"] == "ok", 30)
    old_id = str(admin(cache, nodes[1]).execute_command("CLUSTER NODES")  # type: ignore[union-attr]
                 [f"{lost.alias}:{cache.port}"]["node_id"])  # fmt: skip
    with cache.on_sandbox_network():  # written while the shard has no replica, on a key of its slots
        client = admin(cache, survivor)
        key = next(k for k in (f"replaced:{i}" for i in range(10000)) if _owns(client, k))
        client.set(key, "kept")
    took = replace_instance(lost)  # its boot ran the rendered join script to its end
    console = lost.console.read_text()
    assert "join: rejoined as a replica of" in console and f"join: the peers forgot {old_id}" in console, console[
        -3000:
    ]
    assert "nothing to do" in console  # node 0's bootstrap saw the formed cluster and stood down
    MEASURED["replaced_node_rejoin_s"] = took
    replication = admin(cache, lost).info("replication")
    assert replication["role"] == "slave" and replication["master_link_status"] == "up"
    assert str(replication["master_host"]) == survivor.alias  # the master that had lost its replica
    # Other nodes learn whose replica it is from its own pings (gossip carries flags, not masters): give them time.
    wait_for(
        "node 2 to see the replaced node as the survivor's replica",
        lambda: replicas_of(cache, nodes[2]).get(survivor.name) == lost.name,
        30,
    )

    def everyone_sees_six() -> list[str] | None:
        # The old id is forgotten at once; the new one reaches every node by gossip within a few cluster pings.
        views = {node.name: cluster_info(cache, node) for node in nodes}
        behind = [n for n, i in views.items() if i["cluster_state"] != "ok" or i["cluster_known_nodes"] != "6"]
        return None if behind else sorted(views)

    wait_for("every node to know six nodes (old id gone, new one met)", everyone_sees_six, 30)
    wait_for("the write made before it rejoined", lambda: _value_on_replica(cache, lost, key) == "kept", 10)
    since = time.time()
    run_metrics_agent(nodes[3])
    assert published(cache, nodes[3], since)["ClusterFailedNodes"] == 0.0  # no node out of the cluster any more


def test_every_file_the_cache_user_data_writes_is_used_or_skipped(cache: CacheCluster) -> None:
    """A file the program renders for a cache node that no scenario used and no skip names would escape."""
    assert unaccounted_files(cache.box.nodes) == []
    # What counts as used, on a replica that never restarted: the server's conf, the ACL template the setup script
    # copied, the sysctl file `sysctl -p` read, the setup script itself and the unit the runner started.
    replica = next(n for n in cache.box.nodes if cache.planned_role(n) == "s2-replica1")
    assert used_files(replica) == {w.path for w in replica.config.files} - {
        "/opt/aws/amazon-cloudwatch-agent/etc/cryb-cache.json"
    }
    assert "/usr/local/sbin/cryb-cache-bootstrap" in used_files(cache.box.nodes[0])  # node 0 only renders it
