"""A `postgres.engine: ec2` OLTP shard (the prod stack with the engine switched, as
tests/components/postgres/test_ec2_engine.py evaluates it), booted from its launch templates' user data: the same
scenarios' bootstrap half, on the shard's own port, database and PostgreSQL major."""

from __future__ import annotations

import time
from collections.abc import Iterator
from subprocess import CompletedProcess

import pytest
import yaml

from scripts.local.nodes import wait_for
from scripts.preview.mock_engine import Evaluation, evaluate
from scripts.sandbox import Node
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from tests.helpers import write_config
from tests.real.sandbox.rendered import PG_INSTALLED, BootedCluster, booted_cluster

pytestmark = pytest.mark.servers

EC2_POSTGRES = {"engine": "ec2", "shardCount": 1, "ec2": {"instanceType": "i4i.xlarge"}}
COMPONENT = "cryb-prod-pg-00"


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    return evaluate("prod", write_config(tmp_path_factory.mktemp("ec2"), "prod", {"cryb-db:postgres": EC2_POSTGRES}))


@pytest.fixture(scope="module")
def shard(evaluation: Evaluation) -> Iterator[BootedCluster]:
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


def test_the_shards_etcd_members_are_healthy_over_tls_only(shard: BootedCluster) -> None:
    node = shard.box.nodes[0]
    script = "set -a; . /etc/cryb-db/etcdctl.env; set +a; exec etcdctl endpoint health --cluster -w json"
    health = yaml.safe_load(node.run(["bash", "-c", script]).stdout)
    assert sorted(m["endpoint"].split(":")[0] for m in health) == ["https"] * 3
    assert all(m["health"] for m in health)


def _etcd_members(shard: BootedCluster, via: Node) -> dict[str, tuple[str, str]]:
    """name -> (member id, status) from etcd's own member list, asked on a node."""
    # etcdctl over TLS with the node's rendered settings (the cluster CA and the member's client certificate).
    script = "set -a; . /etc/cryb-db/etcdctl.env; set +a; exec etcdctl member list"
    out = via.run(["bash", "-c", script]).stdout
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


def _served_serial(client: Node, address: str, port: int) -> str:
    """The serial of the certificate PostgreSQL serves on `address` now (STARTTLS as libpq does)."""
    script = (
        f"openssl s_client -starttls postgres -connect {address}:{port} </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial"
    )
    return client.run(["bash", "-c", script], check=False).stdout.strip()


def test_clients_verify_full_the_nodes_with_the_published_cluster_ca(
    shard: BootedCluster, evaluation: Evaluation
) -> None:
    """What the outputs contract publishes (`tlsCaCertSecretArn`, the CA certificate the nodes stored) verifies the
    node's PostgreSQL and REST API certificates with `sslmode=verify-full` by the writer's name, the node's name and
    its address; another CA, or a name not in the certificate, is refused. A renewed certificate is served after the
    renewal script's Patroni reload."""
    (contract,) = [s for s in evaluation.outputs["postgres"]["shards"] if s["name"] == COMPONENT]
    arn = contract["tlsCaCertSecretArn"]
    ca_pem = wait_for(
        "the nodes to publish the cluster CA's certificate",
        lambda: _secret_string(shard, arn),
        timeout=30,
    )
    assert "BEGIN CERTIFICATE" in ca_pem and "PRIVATE KEY" not in ca_pem
    leader = wait_for("a leader", shard.leader, timeout=60)
    client = next(n for n in shard.box.nodes if n is not leader)
    client.run(["bash", "-c", "cat > /var/tmp/cluster-ca.crt"], input=ca_pem)
    wrong = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=wrong"
    client.run(["bash", "-c", f"{wrong} -keyout /var/tmp/wrong-ca.key -out /var/tmp/wrong-ca.crt 2>/dev/null"])
    address = leader.addresses.alias(leader.spec.vpc_address)
    superuser = shard.secrets["superuser"]

    def psql(host: str, ca: str) -> CompletedProcess[str]:
        conninfo = (
            f"host={host} hostaddr={address} port={shard.port} dbname=postgres user={superuser['username']}"
            f" password={superuser['password']} sslmode=verify-full sslrootcert={ca} connect_timeout=5"
        )
        query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        return client.run(["psql", "-X", "-tA", "-d", conninfo, "-c", query], check=False)

    zone = contract["writerEndpoint"].split(".", 1)[1]
    for host in (contract["writerEndpoint"], contract["readerEndpoints"][0], f"{shard.member_of(leader)}.{zone}",
                 address):  # fmt: skip
        ok = psql(host, "/var/tmp/cluster-ca.crt")
        assert (ok.returncode, ok.stdout.strip()) == (0, "t"), (host, ok.stderr)
    refused = psql(contract["writerEndpoint"], "/var/tmp/wrong-ca.crt")
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr, refused.stderr
    unnamed = psql(f"elsewhere.{zone}", "/var/tmp/cluster-ca.crt")
    assert unnamed.returncode != 0 and "does not match host name" in unnamed.stderr, unnamed.stderr
    # The REST API serves the same certificate.
    restapi_port = yaml.safe_load(leader.path("/etc/patroni/cryb/patroni.yml").read_text())["restapi"]["listen"]
    restapi_port = restapi_port.rsplit(":", 1)[1]
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "/var/tmp/cluster-ca.crt"]
    url = f"https://{contract['writerEndpoint']}:{restapi_port}/liveness"
    resolve = f"{contract['writerEndpoint']}:{restapi_port}:{address}"
    assert client.run([*curl, "--resolve", resolve, url]).stdout == "200"

    # Renewal: a missing (or expiring) certificate is re-issued by the timer's script, and PostgreSQL serves it.
    before = _served_serial(client, address, shard.port)
    assert before.startswith("serial=")
    leader.run(["rm", "-f", "/etc/cryb-db/tls/node.crt"])
    leader.run(["systemctl", "start", "cryb-etcd-certs.service"], timeout=120)  # as the daily timer runs it
    renewed = leader.run(["openssl", "x509", "-noout", "-serial", "-in", "/etc/cryb-db/tls/node.crt"]).stdout.strip()
    assert renewed != before
    served = lambda: _served_serial(client, address, shard.port) == renewed  # noqa: E731
    wait_for("PostgreSQL to serve the renewed certificate", served, timeout=30)
    ok = psql(contract["writerEndpoint"], "/var/tmp/cluster-ca.crt")
    assert ok.returncode == 0, ok.stderr


def _secret_string(shard: BootedCluster, arn: str) -> str | None:
    client = shard.moto.boto3_client("secretsmanager")
    try:
        return client.get_secret_value(SecretId=arn)["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        return None
