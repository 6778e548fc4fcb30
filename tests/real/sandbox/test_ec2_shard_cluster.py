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


def test_the_shard_boots_with_a_leader_a_sync_standby_and_a_replica(shard: BootedCluster) -> None:
    def healthy() -> bool:
        roles = sorted(m.role for m in shard.members() if m.state == "running")
        return roles == ["leader", "replica", "sync_standby"]

    wait_for("a leader, a synchronous standby and a replica", healthy, timeout=90)
    leader = shard.leader()
    assert leader is not None
    wait_for(
        "two streaming replicas, one synchronous",
        lambda: (
            sorted(shard.psql(leader, "SELECT state, sync_state FROM pg_stat_replication"))
            == [["streaming", "async"], ["streaming", "sync"]]
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


def test_the_shards_etcd_members_are_healthy_over_tls_only(shard: BootedCluster) -> None:
    node = shard.box.nodes[0]
    script = "set -a; . /etc/cryb-db/etcdctl.env; set +a; exec etcdctl endpoint health --cluster -w json"
    health = yaml.safe_load(node.run(["bash", "-c", script]).stdout)
    assert sorted(m["endpoint"].split(":")[0] for m in health) == ["https"] * 3
    assert all(m["health"] for m in health)
