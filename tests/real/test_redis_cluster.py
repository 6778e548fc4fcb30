"""The self-hosted cache for real: as many redis-server processes as prod declares, from the rendered redis.conf
and ACL file, bootstrapped by the rendered node-0 script, then a master is killed (issue 4 item 3).

Failover *time* is a benchmark figure (`python -m scripts bench cache-failover`); here recovery only has to
happen within a generous bound.
"""

import os
import shutil
from collections.abc import Iterator

import pytest
import redis
from redis.crc import key_slot
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError

from components.cache.cluster_plan import CLUSTER_SLOTS
from components.cache.redis_conf import CLUSTER_NODE_TIMEOUT_MS
from scripts.bench.local_redis_cluster import LocalCluster, local_cluster, stack_config

pytestmark = pytest.mark.servers
# The cluster runs as prod does: TLS only. A missing binary fails the test (CI installs both: .ci/setup.sh) rather
# than quietly testing a plaintext cluster.
for _binary in ("redis-server", "openssl"):
    if shutil.which(_binary) is None:
        raise RuntimeError(f"{_binary} is not installed: run .ci/setup.sh (make setup)")
TLS = True
PROD = stack_config("prod")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with local_cluster("prod", tls=TLS) as running:
        yield running


def test_node_count_follows_the_prod_config(cluster: LocalCluster) -> None:
    assert len(cluster.nodes) == PROD.cache.shards * (1 + PROD.cache.replicas_per_shard) == 6
    assert len({n.process.pid for n in cluster.nodes if n.process}) == 6


def test_cluster_is_ok_and_covers_every_slot(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        info = cluster.info(node.index)
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == int(info["cluster_slots_ok"]) == CLUSTER_SLOTS
        assert int(info["cluster_known_nodes"]) == len(cluster.nodes)
    view = cluster.topology(0)
    owned = sorted(r for row in view.values() if row["role"] == "master" for r in row["slots"])
    assert owned == [m.slots for m in cluster.plan.masters]


def test_every_master_has_a_replica_in_another_az(cluster: LocalCluster) -> None:
    view = cluster.topology(0)
    masters = [i for i, row in view.items() if row["role"] == "master"]
    for master in masters:
        replicas = [i for i, row in view.items() if row["role"] == "replica" and row["master"] == master]
        assert len(replicas) == PROD.cache.replicas_per_shard
        for replica in replicas:
            assert cluster.plan.nodes[replica].az != cluster.plan.nodes[master].az


def test_rendered_settings_are_live(cluster: LocalCluster) -> None:
    admin = cluster.admin(0)
    assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == PROD.cache.maxmemory_policy
    assert admin.config_get("cluster-node-timeout")["cluster-node-timeout"] == str(CLUSTER_NODE_TIMEOUT_MS)
    assert admin.config_get("appendonly")["appendonly"] == "yes"


def test_app_user_reads_and_writes_across_shards(cluster: LocalCluster) -> None:
    with cluster.cluster_client("app") as app:
        keys = [f"session:{i}" for i in range(64)]
        for key in keys:
            app.set(key, key.upper(), ex=600)
        assert [app.get(key) for key in keys] == [key.upper() for key in keys]
        shards = {m.shard for key in keys for m in cluster.plan.masters if _in(key, m.slots)}
        assert shards == {m.shard for m in cluster.plan.masters}  # the keys really span every shard
        with pytest.raises(NoPermissionError):
            app.execute_command("FLUSHALL", target_nodes=redis.RedisCluster.PRIMARIES)


def test_reader_reads_but_cannot_write(cluster: LocalCluster) -> None:
    with cluster.cluster_client("app") as app:
        app.set("feed:1", "post")
    with cluster.cluster_client("reader") as reader:
        assert reader.get("feed:1") == "post"
        with pytest.raises(NoPermissionError):
            reader.set("feed:1", "overwritten")


@pytest.mark.parametrize("user", ["app", "reader"])
def test_client_users_may_run_info_but_not_config(cluster: LocalCluster, user: str) -> None:
    """Client libraries and health checks call INFO (in @dangerous, granted back by the rendered ACL)."""
    with cluster.client(0, user=user) as client:
        assert client.info("server")["redis_mode"] == "cluster"
        with pytest.raises(NoPermissionError):
            client.config_get("maxmemory")


def test_default_user_and_plaintext_are_refused(cluster: LocalCluster) -> None:
    with cluster.client(0, username=None, password=None) as anonymous:  # no AUTH: the `default` user, which is off
        with pytest.raises(AuthenticationError):
            anonymous.ping()
    with cluster.client(0, user="default", password="anything") as default:
        with pytest.raises(AuthenticationError):
            default.ping()
    with cluster.client(0, user="app", password="wrong-password") as wrong:
        with pytest.raises(AuthenticationError):
            wrong.ping()
    # `port 0`: the only listener speaks TLS
    with cluster.client(0, ssl=False, socket_timeout=1) as plaintext:
        with pytest.raises(RedisConnectionError):
            plaintext.ping()


def _in(key: str, slots: tuple[int, int] | None) -> bool:
    return slots is not None and slots[0] <= key_slot(key.encode()) <= slots[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_master_is_replaced_by_its_replica_and_nothing_is_left_running() -> None:
    with local_cluster("prod", tls=TLS) as running:
        pids = [n.process.pid for n in running.nodes if n.process]
        killed = running.plan.masters[0]
        key = next(k for k in (f"lock:{i}" for i in range(1000)) if _in(k, killed.slots))
        with running.cluster_client("app") as app:
            app.set(key, "held", ex=600)
            app.execute_command("WAIT", 1, 2000, target_nodes=redis.RedisCluster.PRIMARIES)
        result = running.measure_failover(killed.index, timeout=30)
        promoted = result.promoted
        assert running.plan.nodes[promoted].master == killed.index
        view = running.topology(promoted)
        assert view[promoted]["role"] == "master" and killed.slots in view[promoted]["slots"]
        assert view[killed.index]["failed"]
        for node in running.nodes:
            if node.process is not None:
                assert running.info(node.index)["cluster_state"] == "ok"
                assert running.serving_slots(node.index) == CLUSTER_SLOTS
        with running.cluster_client("app") as app:
            assert app.get(key) == "held"  # replicated before the crash, served by the promoted replica
            app.set(key, "after-failover")
            assert app.get(key) == "after-failover"
    assert not [pid for pid in pids if _alive(pid)]
    assert all(not n.workdir.exists() for n in running.nodes)
