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

from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import AwsEndpoint, Node, Sandbox
from scripts.sandbox.aws import endpoint_names, write_endpoint_certificates
from scripts.sandbox.image import Image
from scripts.sandbox.preview import computed_state, node_specs
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from tests.servers.moto_tls import MotoTlsServer, TlsFiles
from tests.servers.ports import free_port
from tests.servers.process import make_workdir

REGION = "us-east-1"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PG_INSTALLED = "15"


@contextmanager
def aws_stand_in(buckets: list[str]) -> Iterator[MotoTlsServer]:
    """moto under gunicorn with TLS (tests/servers/moto_tls.py), certified for the AWS names the nodes call."""
    workdir = make_workdir("cryb-sandbox-moto-", None)
    workdir.chmod(0o711)
    certificates = write_endpoint_certificates(workdir, endpoint_names(REGION, buckets))
    server = MotoTlsServer(
        workdir, TlsFiles(certificates.ca_file, certificates.cert_file, certificates.key_file), free_port()
    )
    server.start_on_a_free_port()
    try:
        yield server
    finally:
        server.close()


def endpoint(server: MotoTlsServer, buckets: list[str]) -> AwsEndpoint:
    return AwsEndpoint(
        host="127.0.0.1",
        port=server.port,
        names=tuple(endpoint_names(REGION, buckets)),
        ca_pem=server.ca_file.read_bytes(),
    )


def rendered_bucket(node_file: str) -> str:
    match = re.search(r"^repo1-s3-bucket=(.+)$", node_file, re.M)
    assert match, "pgbackrest.conf names no bucket"
    return match.group(1)


def seed_declared_secrets(server: MotoTlsServer, evaluation: Evaluation, component: str) -> dict[str, str]:
    """Create, in moto, every secret the preview declares under the cluster, with the value its version declares
    (the mock engine's generated password), under the ARN the preview gives it. Returns ARN -> secret string."""
    parent = evaluation.named(component)
    client = server.boto3_client("secretsmanager")
    seeded = {}
    for secret in evaluation.of_type(SECRET):
        if secret.parent != parent.urn:
            continue
        arn = str(computed_state(secret, REGION)["arn"])
        version = evaluation.named(f"{secret.name}-value")
        assert version.type == SECRET_VERSION
        value = version.inputs["secretString"]
        client.create_secret(Name=arn, SecretString=value)
        seeded[arn] = value
    return seeded


def analytics_sandbox(evaluation: Evaluation, component: str, aws: AwsEndpoint, majors: dict[str, str]) -> Sandbox:
    return Sandbox(node_specs(evaluation, component), aws=aws, image=Image.debian_host(majors), region=REGION)


# -- asking the cluster ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    name: str
    role: str
    state: str
    lag: object


def patroni_cluster(node: Node) -> list[Member]:
    """`GET /cluster` of the node's own REST API, from inside the node (as its health checks ask)."""
    address = node.alias
    result = node.run(["curl", "-sk", "--max-time", "3", f"https://{address}:8008/cluster"], check=False)
    if result.returncode != 0 or not result.stdout:
        return []
    members = json.loads(result.stdout).get("members", [])
    return [Member(m["name"], m["role"], m["state"], m.get("lag")) for m in members]


def wait_for(what: str, check, timeout: float, interval: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


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
