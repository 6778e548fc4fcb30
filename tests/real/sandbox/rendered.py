"""What the sandbox scenarios share: the AWS stand-in (moto over TLS, under AWS's names), the secrets and bucket the
preview declares, and questions asked of a booted Patroni cluster through its own tools."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml

from scripts.local.aws import REGION, aws_stand_in, endpoint, seed_declared_secrets
from scripts.local.nodes import Member, patroni_cluster
from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import AwsEndpoint, Node, Sandbox
from scripts.sandbox.image import Image
from scripts.sandbox.preview import node_specs
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from tests.servers.moto_tls import MotoTlsServer

PG_INSTALLED = "15"


def rendered_bucket(node_file: str) -> str:
    match = re.search(r"^repo1-s3-bucket=(.+)$", node_file, re.M)
    assert match, "pgbackrest.conf names no bucket"
    return match.group(1)


def analytics_sandbox(evaluation: Evaluation, component: str, aws: AwsEndpoint, majors: dict[str, str]) -> Sandbox:
    return Sandbox(node_specs(evaluation, component), aws=aws, image=Image.debian_host(majors), region=REGION)


# -- asking the cluster ----------------------------------------------------------------------------------------
def socket_dir(node: Node) -> Path:
    return node.path("/var/run/postgresql")


# -- a booted Patroni cluster ----------------------------------------------------------------------------------
@dataclass
class BootedCluster:
    """A rendered Patroni cluster booted in the sandbox, with the AWS stand-in and the secrets it was seeded with."""

    box: Sandbox
    moto: MotoTlsServer
    secrets: dict[str, dict[str, str]]
    """Purpose (superuser, admin, ...) -> the secret's JSON as seeded."""
    scope: str
    database: str
    port: int
    bucket: str
    repo_path: str
    booted_at: float
    """Monotonic time the nodes' boots started."""
    boot_seconds: dict[str, float]

    def synchronous_standbys(self) -> int:
        """synchronous_node_count as rendered into the nodes' patroni.yml (what Patroni runs with)."""
        rendered = yaml.safe_load(self.box.nodes[0].path("/etc/patroni/cryb/patroni.yml").read_text())
        return int(rendered["bootstrap"]["dcs"]["synchronous_node_count"])

    def healthy_roles(self) -> list[str]:
        """The sorted Patroni roles of a healthy cluster: a leader, the synchronous standbys, the other replicas."""
        sync = self.synchronous_standbys()
        return sorted(["leader"] + ["sync_standby"] * sync + ["replica"] * (len(self.box.nodes) - 1 - sync))

    def healthy_replication(self) -> list[list[str]]:
        """pg_stat_replication's sorted (state, sync_state) on the leader of a healthy cluster."""
        sync = self.synchronous_standbys()
        return sorted([["streaming", "sync"]] * sync + [["streaming", "async"]] * (len(self.box.nodes) - 1 - sync))

    def members(self, via: Node | None = None) -> list[Member]:
        for node in [via] if via else [n for n in self.box.nodes if n.running()]:
            found = patroni_cluster(node)
            if found:
                return found
        return []

    def leader(self) -> Node | None:
        for member in self.members():
            if member.role == "leader" and member.state == "running":
                return self.node_named(member.name)
        return None

    def node_named(self, member: str) -> Node:
        return next(n for n in self.box.nodes if self.member_of(n) == member)

    def member_of(self, node: Node) -> str:
        """The Patroni member name of a node (`analytics-a` for `cryb-prod-analytics-node-a`)."""
        return f"{self.scope}-{node.spec.key}"

    def connect(self, node: Node, *, dbname: str | None = None, timeout: int = 3) -> psycopg.Connection:
        admin = self.secrets["admin"]
        return psycopg.connect(
            host=str(socket_dir(node)), port=self.port, user=admin["username"], password=admin["password"],
            dbname=dbname or self.database, connect_timeout=timeout,
        )  # fmt: skip

    def psql(self, node: Node, query: str, *, dbname: str = "postgres") -> list[list[str]]:
        """A query as the superuser, from inside the node over its socket (peer authentication, as the callbacks)."""
        argv = ["psql", "-X", "-p", str(self.port), "-d", dbname, "-tA", "-F", "|", "-c", query]
        out = node.run(argv, user="postgres").stdout
        return [line.split("|") for line in out.splitlines() if line]

    def pgbackrest(self, node: Node, *args: str, check: bool = True) -> str:
        argv = ["pgbackrest", "--config-path=/etc/pgbackrest", f"--stanza={self.scope}", *args]
        return node.run(argv, user="postgres", check=check).stdout

    def archived_wal(self) -> list[str]:
        listing = self.moto.boto3_client("s3").list_objects_v2(Bucket=self.bucket, Prefix=f"{self.repo_path}/archive/")
        return [o["Key"] for o in listing.get("Contents", []) if re.search(r"/[0-9A-F]{24}-", o["Key"])]


def purpose_of(arn: str, scope_component: str) -> str:
    return arn.rsplit("/", 1)[-1].removeprefix(f"{scope_component}-")


@contextmanager
def booted_cluster(evaluation: Evaluation, component: str, majors: dict[str, str]) -> Iterator[BootedCluster]:
    """Boot the component's nodes from their launch templates; everything is torn down on exit."""
    specs = node_specs(evaluation, component)
    files = parse_cloud_config(decode_user_data(specs[0].user_data))
    pgbackrest_conf = files.file("/etc/pgbackrest/pgbackrest.conf").content
    patroni = yaml.safe_load(files.file("/etc/patroni/cryb/patroni.yml").content)
    bucket = rendered_bucket(pgbackrest_conf)
    repo_path = re.search(r"^repo1-path=/(.+)$", pgbackrest_conf, re.M).group(1)  # type: ignore[union-attr]
    agent = json.loads(files.file("/etc/cryb-db/credentials-agent.json").content)
    with aws_stand_in([bucket]) as moto:
        moto.boto3_client("s3").create_bucket(Bucket=bucket)
        seeded = seed_declared_secrets(moto, evaluation, component)
        secrets = {purpose_of(arn, component): json.loads(value) for arn, value in seeded.items()}
        box = Sandbox(specs, aws=endpoint(moto, [bucket]), image=Image.debian_host(majors), region=REGION)
        try:
            box.start()
            started = time.monotonic()
            took = box.boot_all()
            yield BootedCluster(
                box=box, moto=moto, secrets=secrets, scope=patroni["scope"], database=agent["database"],
                port=int(agent["port"]), bucket=bucket, repo_path=repo_path, booted_at=started, boot_seconds=took,
            )  # fmt: skip
        finally:
            box.close()
