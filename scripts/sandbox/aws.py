"""The AWS endpoint names a node resolves to the sandbox, and a certificate that covers them.

Nodes call AWS by its real names (secretsmanager.us-east-1.amazonaws.com, <bucket>.s3.us-east-1.amazonaws.com,
...) and verify TLS against their trust store, exactly as rendered. The sandbox makes those names resolve, inside
each node only (its own /etc/hosts), to the hub, where a forwarder passes the bytes to the AWS stand-in (moto
under gunicorn with TLS), whose certificate is issued for these names by a CA the node trusts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICES = ("secretsmanager", "s3", "ec2", "ssm", "sts", "logs", "monitoring", "kms")


def endpoint_names(region: str, buckets: Iterable[str] = ()) -> list[str]:
    """Regional endpoints of the services the node scripts call, and the virtual-host names of the buckets."""
    names = [f"{service}.{region}.amazonaws.com" for service in SERVICES]
    names += [f"{bucket}.s3.{region}.amazonaws.com" for bucket in buckets]
    return names


@dataclass(frozen=True)
class EndpointCertificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def write_endpoint_certificates(directory: Path, names: Iterable[str]) -> EndpointCertificates:
    """A throw-away CA (its key is never written) and a server certificate for `names` and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cryb-db sandbox CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    dns = [x509.DNSName(name) for name in dict.fromkeys(["localhost", *names])]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.SubjectAlternativeName(dns), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = EndpointCertificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.touch(mode=0o600)
    files.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files
