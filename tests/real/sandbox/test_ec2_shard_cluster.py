"""A `postgres.engine: ec2` OLTP shard (the prod stack with the engine switched, as
tests/components/postgres/test_ec2_engine.py evaluates it), booted from its launch templates' user data: the same
scenarios' bootstrap half, on the shard's own port, database and PostgreSQL major."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml

from scripts.local.nodes import wait_for
from scripts.preview.mock_engine import evaluate
from scripts.sandbox import Node
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from tests.helpers import write_config
from tests.real.sandbox.rendered import PG_INSTALLED, BootedCluster, booted_cluster

pytestmark = pytest.mark.servers

EC2_POSTGRES = {"engine": "ec2", "shardCount": 1, "ec2": {"instanceType": "i4i.xlarge"}}
COMPONENT = "cryb-prod-pg-00"


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BootedCluster]:
    evaluation = evaluate(
        "prod", write_config(tmp_path_factory.mktemp("ec2"), "prod", {"cryb-db:postgres": EC2_POSTGRES})
    )
    template = next(r for r in evaluation.of_type("aws:ec2/launchTemplate:LaunchTemplate") if COMPONENT in r.name)
    patroni = yaml.safe_load(
        parse_cloud_config(decode_user_data(template.inputs["userData"])).file("/etc/patroni/cryb/patroni.yml").content
    )
    rendered_major = patroni["postgresql"]["bin_dir"].split("/")[-2]
    with booted_cluster(evaluation, COMPONENT, {rendered_major: PG_INSTALLED}) as booted:
        yield booted


def test_the_shard_boots_with_a_leader_and_two_synchronous_standbys(shard: BootedCluster) -> None:
    assert shard.synchronous_standbys() == 2  # as rendered: every replica of a three-node shard confirms commits

    def healthy() -> bool:
        roles = sorted(m.role for m in shard.members() if m.state == "running")
        return roles == shard.healthy_roles()

    wait_for("a leader and two synchronous standbys", healthy, timeout=90)
    leader = shard.leader()
    assert leader is not None
    wait_for(
        "two streaming replicas, both synchronous",
        lambda: (
            sorted(shard.psql(leader, "SELECT state, sync_state FROM pg_stat_replication"))
            == shard.healthy_replication()
        ),
        timeout=60,
    )
    print(f"shard bootstrap: {time.monotonic() - shard.booted_at:.1f} s")
    assert shard.port != 5432  # the stack's non-default port, rendered into every file that names it
    with shard.connect(leader) as conn:
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        assert "pg_stat_statements" in extensions
        assert "pg_partman" not in extensions  # an OLTP shard has no analytics backend
    for node in shard.box.nodes:
        assert shard.secrets["replication"]["password"] in node.path("/etc/patroni/cryb/secrets.yml").read_text()


def test_the_shard_archives_wal_to_s3_within_60_s(shard: BootedCluster) -> None:
    wait_for("a WAL segment of the shard in the S3 repository", shard.archived_wal, timeout=60, interval=1)
    assert time.monotonic() - shard.booted_at < 120


def _etcd_members(shard: BootedCluster, via: Node) -> dict[str, tuple[str, str]]:
    """name -> (member id, status) from etcd's own member list, asked on a node."""
    out = via.run(["env", "ETCDCTL_API=3", "etcdctl", f"--endpoints=http://{via.alias}:2379", "member", "list"]).stdout
    rows = [line.split(", ") for line in out.splitlines() if line]
    return {row[2]: (row[0], row[1]) for row in rows}


def test_a_replaced_replica_rejoins_etcd_and_patroni_from_its_launch_template(shard: BootedCluster) -> None:
    wait_for("a healthy shard", lambda: sorted(m.role for m in shard.members() if m.state == "running")
             == shard.healthy_roles(), timeout=90)  # fmt: skip
    leader = wait_for("a leader", shard.leader, timeout=30)
    replaced = next(n for n in shard.box.nodes if n is not leader)
    name = shard.member_of(replaced)
    before = _etcd_members(shard, leader)
    assert {status for _, status in before.values()} == {"started"} and name in before
    with shard.connect(leader) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS replaced_node (id int PRIMARY KEY)")
        conn.execute("INSERT INTO replaced_node VALUES (1) ON CONFLICT DO NOTHING")
    replaced.replace()  # the instance and its NVMe disks are gone; the Auto Scaling group boots a new one
    replaced.boot()
    wait_for(
        "the new instance back in the shard as a synchronous standby",
        lambda: sorted(m.role for m in shard.members(via=leader) if m.state == "running") == shard.healthy_roles(),
        timeout=150, interval=1,
    )  # fmt: skip
    after = _etcd_members(shard, leader)
    assert after[name][1] == "started" and after[name][0] != before[name][0]  # removed, then added as a new member
    assert len(after) == 3
    with shard.connect(replaced) as conn:
        assert conn.execute("SELECT id FROM replaced_node").fetchall() == [(1,)]


def test_the_shard_decodes_wal_logically_for_bucket_moves(shard: BootedCluster) -> None:
    """The rendered `wal_level: logical` is in force and the admin role (the shard's secret, what the move tool and
    the target's subscription log in as) may decode it: a row-filtered publication and a logical slot, what
    `python -m scripts shards move` creates on a source shard (docs/sharding.md), work on the leader."""
    leader = wait_for("a leader", shard.leader, timeout=60)
    with shard.connect(leader) as conn:
        conn.autocommit = True
        assert conn.execute("SHOW wal_level").fetchone() == ("logical",)
        conn.execute("CREATE TABLE IF NOT EXISTS moving (bucket int, id int, PRIMARY KEY (bucket, id))")
        conn.execute("CREATE PUBLICATION probe_move FOR TABLE moving WHERE (bucket BETWEEN 0 AND 9)")
        try:
            conn.execute("SELECT pg_create_logical_replication_slot('probe_move', 'pgoutput')")
            conn.execute("SELECT pg_drop_replication_slot('probe_move')")
        finally:
            conn.execute("DROP PUBLICATION probe_move")
