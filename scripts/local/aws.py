"""The AWS stand-in the local platform and the sandbox scenarios share: moto over TLS under AWS's names (the nodes
call `secretsmanager.us-east-1.amazonaws.com`, `s3...`), and the secrets and bucket the preview declares, seeded
under the ARNs the preview gives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import AwsEndpoint
from scripts.sandbox.aws import endpoint_names, write_endpoint_certificates
from scripts.sandbox.preview import computed_state
from scripts.servers.moto_tls import MotoTlsServer, TlsFiles
from scripts.servers.ports import free_port
from scripts.servers.process import make_workdir

REGION = "us-east-1"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


@contextmanager
def aws_stand_in(buckets: list[str], port: int | None = None) -> Iterator[MotoTlsServer]:
    """moto under gunicorn with TLS (scripts/servers/moto_tls.py), certified for the AWS names the nodes call."""
    workdir = make_workdir("cryb-sandbox-moto-", None)
    workdir.chmod(0o711)
    certificates = write_endpoint_certificates(workdir, endpoint_names(REGION, buckets))
    server = MotoTlsServer(
        workdir, TlsFiles(certificates.ca_file, certificates.cert_file, certificates.key_file), port or free_port()
    )
    if port is None:
        server.start_on_a_free_port()
    else:
        server.start()
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


def seed_declared_secrets(server: MotoTlsServer, evaluation: Evaluation, component: str) -> dict[str, str]:
    """Create, in moto, every secret the preview declares under the cluster, with the value its version declares
    (the mock engine's generated password), under the ARN the preview gives it; a secret the preview declares no
    version of (the etcd CA, which the first node stores) is created empty. Returns ARN -> secret string of the
    seeded ones."""
    parent = evaluation.named(component)
    client = server.boto3_client("secretsmanager")
    seeded = {}
    for secret in evaluation.of_type(SECRET):
        if secret.parent != parent.urn:
            continue
        arn = str(computed_state(secret, REGION)["arn"])
        versions = [r for r in evaluation.resources if r.name == f"{secret.name}-value" and r.parent == parent.urn]
        if not versions:
            client.create_secret(Name=arn)
            continue
        (version,) = versions
        assert version.type == SECRET_VERSION
        value = version.inputs["secretString"]
        client.create_secret(Name=arn, SecretString=value)
        seeded[arn] = value
    return seeded


def seed_cache_secrets(server: MotoTlsServer, evaluation: Evaluation, component: str) -> dict[str, str]:
    """Every secret the preview declares under the cache, under the ARN and with the tags the preview gives it:
    users' secrets with the value their version declares, the two CA secrets empty (the first node to boot stores
    the CA). Returns the kind (`app`, `tls-ca-cert`, ...) -> ARN."""
    (parent,) = [r for r in evaluation.resources if r.name == component and not r.type.startswith("aws:")]
    client = server.boto3_client("secretsmanager")
    arns = {}
    for secret in evaluation.of_type(SECRET):
        if secret.parent != parent.urn:
            continue
        arn = str(computed_state(secret, REGION)["arn"])
        versions = [r for r in evaluation.resources if r.name == f"{secret.name}-value" and r.parent == parent.urn]
        # With the tags the preview gives it: the rotation function finds the user in `cache-user`.
        tags = [{"Key": k, "Value": str(v)} for k, v in (secret.inputs.get("tags") or {}).items()]
        if versions:
            client.create_secret(Name=arn, SecretString=versions[0].inputs["secretString"], Tags=tags)
        else:
            client.create_secret(Name=arn, Tags=tags)
        arns[secret.name.removeprefix(f"{component}-")] = arn
    return arns


def secret_json(server: MotoTlsServer, arn: str) -> dict[str, str]:
    value = server.boto3_client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return {k: str(v) for k, v in json.loads(value).items()}
