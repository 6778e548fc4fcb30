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

from scripts.mock_engine import Evaluation
from scripts.sandbox import AwsEndpoint, Node, Sandbox
from scripts.sandbox.aws import endpoint_names, write_endpoint_certificates
from scripts.sandbox.image import Image
from scripts.sandbox.preview import computed_state, node_specs
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
