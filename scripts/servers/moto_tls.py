"""moto's S3 (and the rest of its WSGI app) served over verified TLS on loopback, for clients that need HTTPS.

pgBackRest talks to S3 over TLS only, and the plain ``moto_server`` (Werkzeug's development server) drops its TLS
connections ("unexpected eof while reading"). So the same WSGI app runs under gunicorn (one worker, so there is
one in-memory AWS; ``gthread`` for concurrent requests) with a certificate for ``localhost`` issued by a CA made
for this server alone. Clients verify it against ``ca_file``: nothing here turns TLS verification off.

``moto_tls_server()`` is a context manager (the benchmark uses it; the ``moto_tls`` fixture of
tests/servers/moto_tls.py wraps it for a test module); the local platform runs a ``MotoTlsServer`` of its own.
Either way the server is stopped and its work dir (key included) deleted on exit.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import shutil
import signal
import socket
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .moto import DUMMY_AWS_ENV, REGION, MotoProcess
from .ports import free_port
from .process import ManagedProcess, make_workdir, wait_until

HOSTNAME = "localhost"  # what clients connect to: the certificate's name
START_TIMEOUT = 30.0
PROJECT_DIR = Path(__file__).resolve().parents[2]


def wsgi_app() -> Any:
    """The app ``moto_server`` serves, for gunicorn (``scripts.servers.moto_tls:wsgi_app()``), plus one stand-in
    route: ``POST {STAND_IN_ROUTE}`` with ``{"SecretId", "FunctionArn"}`` stages a rotation as Secrets Manager's
    RotateSecret does before invoking the function (scripts/servers/secrets_rotation.py), which moto cannot do
    without Docker; it answers ``{"ClientRequestToken"}``."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from .secrets_rotation import STAND_IN_ROUTE, begin_rotation

    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == STAND_IN_ROUTE and environ.get("REQUEST_METHOD") == "POST":
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            token = begin_rotation(body["SecretId"], REGION, body.get("FunctionArn", ""))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"ClientRequestToken": token}).encode()]
        return moto_app(environ, start_response)

    return app


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_certificates(directory: Path, hostname: str = HOSTNAME) -> TlsFiles:
    """A throw-away CA and a server certificate for ``hostname`` (and the loopback addresses) signed by it.

    The CA's key is never written; the server key is 0600. The CA certificate is world-readable, so a client
    running as another user (pgBackRest as ``postgres``) can be given a copy or the path."""
    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("cryb-db test CA"))
        .issuer_name(_name("cryb-db test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(hostname),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.ca_file.chmod(0o644)
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.touch(mode=0o600)
    files.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def _loopback_addresses(hostname: str) -> list[str]:
    """Every address ``hostname`` resolves to (127.0.0.1, and ::1 where /etc/hosts says so): a client may try
    either first, so the server listens on all of them."""
    found = {str(info[4][0]) for info in socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)}
    return sorted((a for a in found if _bindable(a)), key=lambda a: ":" in a)


def _bindable(address: str) -> bool:
    """False for ::1 on a machine whose /etc/hosts names it but whose kernel has IPv6 off."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False


class MotoTlsServer(MotoProcess):
    """One gunicorn process serving moto over HTTPS on a free loopback port."""

    def __init__(self, workdir: Path, tls: TlsFiles, port: int) -> None:
        self.workdir = workdir
        self.tls = tls
        self.port = port
        self.region = REGION
        self.process = None
        self.log_path = workdir / "gunicorn.log"

    def use_port(self, port: int) -> None:
        self.port = port

    def _ssl_context(self) -> ssl.SSLContext:
        return self.ssl_context()

    def __repr__(self) -> str:
        return f"<MotoTlsServer {self.endpoint_url}>"

    @property
    def ca_file(self) -> Path:
        """The CA certificate that verifies the server (give it to clients; never disable verification)."""
        return self.tls.ca_file

    @property
    def endpoint(self) -> str:
        """``host:port`` as an S3 endpoint setting (e.g. pgBackRest's ``repo1-s3-endpoint``)."""
        return f"{HOSTNAME}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        """Base URL for boto3 ``endpoint_url`` (pass ``verify=str(ca_file)``)."""
        return f"https://{self.endpoint}"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def boto3_client(self, service: str) -> Any:
        """A boto3 client for this server with dummy credentials and the CA verified."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            verify=str(self.ca_file),
            aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_AWS_ENV["AWS_SESSION_TOKEN"],
        )

    def begin_rotation(self, secret_id: str, function_arn: str = "") -> str:
        """Stage a rotation of the secret as RotateSecret does before invoking its function (wsgi_app's stand-in
        route); returns the token staged AWSPENDING."""
        from .secrets_rotation import STAND_IN_ROUTE

        request = urllib.request.Request(
            f"{self.endpoint_url}{STAND_IN_ROUTE}",
            data=json.dumps({"SecretId": secret_id, "FunctionArn": function_arn}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10, context=self.ssl_context()) as response:
            return str(json.loads(response.read())["ClientRequestToken"])

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.running():
            return
        binds = []
        for address in _loopback_addresses(HOSTNAME):
            binds += ["--bind", f"[{address}]:{self.port}" if ":" in address else f"{address}:{self.port}"]
        options = {
            "--workers": "1",  # one process: one in-memory AWS
            "--worker-class": "gthread",
            "--threads": "8",
            "--timeout": "120",
            "--graceful-timeout": "1",  # workers held by keep-alive clients are killed after 1 s
            "--chdir": str(PROJECT_DIR),
            "--certfile": str(self.tls.cert_file),
            "--keyfile": str(self.tls.key_file),
            "--error-logfile": "-",
        }
        argv = [sys.executable, "-m", "gunicorn", *(x for pair in options.items() for x in pair), *binds]
        self.process = ManagedProcess(
            "moto-gunicorn",
            [*argv, "scripts.servers.moto_tls:wsgi_app()"],
            log_path=self.log_path,
            cwd=self.workdir,
            env={"PYTHONUNBUFFERED": "1", **DUMMY_AWS_ENV},
            stop_signal=signal.SIGINT,  # gunicorn's quick shutdown (SIGTERM waits for keep-alive clients)
        )
        wait_until(
            self._answers,
            what=f"moto (gunicorn, TLS) on port {self.port}",
            timeout=timeout,
            process=self.process,
            interval=0.1,
        )


def start_moto_tls_server() -> MotoTlsServer:
    """Certificates, then gunicorn on a free port (a new port if another process took it meanwhile)."""
    if shutil.which("gunicorn") is None and not (Path(sys.executable).parent / "gunicorn").exists():
        raise RuntimeError("gunicorn is not installed in this environment (pip install -r requirements-dev.txt)")
    workdir = make_workdir("cryb-moto-tls-", None)
    workdir.chmod(0o711)  # others may reach ca.pem by its path; the key stays 0600
    server = MotoTlsServer(workdir, write_certificates(workdir), free_port())
    server.start_on_a_free_port()
    return server


def stop_moto_tls_server(server: MotoTlsServer) -> None:
    server.close()


@contextlib.contextmanager
def moto_tls_server() -> Iterator[MotoTlsServer]:
    """A running HTTPS moto that is stopped (and its files deleted) whatever happens."""
    server = start_moto_tls_server()
    try:
        yield server
    finally:
        stop_moto_tls_server(server)
