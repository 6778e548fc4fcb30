"""A local moto server standing in for AWS (KMS, S3, ...) in tests and benches (moto over TLS: moto_tls.py).

Why a server rather than ``mock_aws``: the code under test may run in
subprocesses (CLI, scripts) or use clients created elsewhere; an HTTP
endpoint works for all of them through ``AWS_ENDPOINT_URL``.

The server has no credentials checks, so the fixtures export dummy
credentials to make sure nothing can ever reach real AWS.
"""

from __future__ import annotations

import dataclasses
import json
import ssl
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .ports import LOOPBACK, free_port, looks_like_port_clash
from .process import ManagedProcess, ServerStartError, make_workdir, remove_workdir, wait_until

START_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
REGION = "us-east-1"

#: Environment for boto3 clients that talk to the moto server.
DUMMY_AWS_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass(frozen=True)
class MotoInfo:
    """Where the moto server listens."""

    host: str
    port: int
    region: str = REGION

    @property
    def endpoint_url(self) -> str:
        """Base URL to pass as boto3 ``endpoint_url``."""
        return f"http://{self.host}:{self.port}"


class MotoProcess:
    """What every moto server process here shares: liveness, the reset API, stopping, and starting on a free port
    (a new one when another process took it meanwhile)."""

    process: ManagedProcess | None = None
    workdir: Path

    @property
    def endpoint_url(self) -> str:
        raise NotImplementedError

    def _ssl_context(self) -> ssl.SSLContext | None:
        """How to verify the server (None: plain HTTP)."""
        return None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        raise NotImplementedError

    def use_port(self, port: int) -> None:
        raise NotImplementedError

    def _answers(self) -> bool:
        url = f"{self.endpoint_url}/moto-api/data.json"
        with urllib.request.urlopen(url, timeout=2, context=self._ssl_context()) as response:
            return response.status == 200

    def running(self) -> bool:
        """True while our moto process is alive."""
        return self.process is not None and self.process.running()

    def reset(self) -> None:
        """Drop all mocked AWS state, so each test starts from nothing."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10, context=self._ssl_context()) as response:
            body = json.loads(response.read() or b"{}")
        if response.status != 200 or body.get("status") != "ok":
            raise RuntimeError(f"moto reset failed: {response.status} {body!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """The process's stop signal, then SIGKILL after ``timeout``."""
        if self.process is not None:
            self.process.stop(timeout=timeout)
            self.process = None

    def start_on_a_free_port(self) -> None:
        """start(); on a port clash, again on a new free port (PORT_ATTEMPTS in all). Stops and deletes the work dir
        when it gives up."""
        try:
            for attempt in range(1, PORT_ATTEMPTS + 1):
                try:
                    self.start()
                    return
                except ServerStartError as exc:
                    self.stop()
                    if attempt == PORT_ATTEMPTS or not looks_like_port_clash(exc.log_tail):
                        raise
                    self.use_port(free_port())
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the server and delete its work dir."""
        try:
            self.stop()
        finally:
            remove_workdir(self.workdir)


class MotoServer(MotoProcess):
    """One ``moto.server`` process (runs as the current user: it is just Python)."""

    def __init__(self, workdir: Path, info: MotoInfo) -> None:
        self.workdir = workdir
        self.info = info
        self.process = None
        self.log_path = workdir / "moto.log"

    def __repr__(self) -> str:
        return f"<MotoServer {self.info.endpoint_url}>"

    @property
    def endpoint_url(self) -> str:
        """Base URL to pass as boto3 ``endpoint_url``."""
        return self.info.endpoint_url

    def use_port(self, port: int) -> None:
        self.info = dataclasses.replace(self.info, port=port)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait until its management API answers."""
        if self.running():
            return
        self.process = ManagedProcess(
            "moto_server",
            # sys.executable: the interpreter running pytest has moto installed.
            [sys.executable, "-m", "moto.server", "-H", self.info.host, "-p", str(self.info.port)],
            log_path=self.log_path,
            cwd=self.workdir,
            env={"PYTHONUNBUFFERED": "1", **DUMMY_AWS_ENV},
        )
        wait_until(
            self._answers,
            what=f"moto_server on port {self.info.port}",
            timeout=timeout,
            process=self.process,
        )


def start_moto_server() -> MotoServer:
    """Start a moto server on a free loopback port (retrying on a port clash)."""
    server = MotoServer(make_workdir("cryb-moto-", None), MotoInfo(host=LOOPBACK, port=free_port()))
    server.start_on_a_free_port()
    return server


def stop_moto_server(server: MotoServer) -> None:
    """Stop the server and delete its work dir."""
    server.close()
