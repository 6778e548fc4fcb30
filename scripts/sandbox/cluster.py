"""A sandbox: nodes on one sandbox network, with the AWS stand-in reachable under AWS's names.

    with Sandbox(specs, aws=AwsEndpoint(...), image=Image.debian_host({"17": "15"}), region="us-east-1") as box:
        box.boot_all()
        box.node("analytics-a").run([...])

`close()` (or leaving the `with`) kills every node's processes and deletes every namespace and directory it made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from scripts.sandbox.addresses import AddressTable
from scripts.sandbox.image import Image
from scripts.sandbox.network import HUB_ADDRESS, Network
from scripts.sandbox.node import PROJECT_DIR, BootError, Node, NodeSpec


@dataclass(frozen=True)
class AwsEndpoint:
    """Where the AWS stand-in listens on this machine's loopback, the names it answers for, and its CA."""

    host: str
    port: int
    names: tuple[str, ...]
    ca_pem: bytes


class Sandbox:
    def __init__(
        self, specs: Sequence[NodeSpec], *, aws: AwsEndpoint, image: Image, region: str, workdir: Path | None = None
    ) -> None:
        self.specs = list(specs)
        self.aws = aws
        self.image = image
        self.region = region
        self.addresses = AddressTable.for_vpc_addresses(spec.vpc_address for spec in specs)
        self.network = Network()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"crybsbx-{self.network.sandbox_id}-", dir="/tmp"))
        self.workdir.chmod(0o711)
        self.forwarder: subprocess.Popen[bytes] | None = None
        hosts = "127.0.0.1 localhost\n" + f"{HUB_ADDRESS} {' '.join(aws.names)}\n"
        self.nodes = [
            Node(
                spec, workdir=self.workdir, network=self.network, addresses=self.addresses, image=image,
                hosts=hosts + f"{self.addresses.alias(spec.vpc_address)} {spec.name}\n", ca_pem=aws.ca_pem,
                region=region,
            )
            for spec in specs
        ]  # fmt: skip

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        self.network.create()
        log = (self.workdir / "forward.log").open("ab")
        self.forwarder = subprocess.Popen(
            [
                sys.executable, "-m", "scripts.sandbox.forward", "--netns", self.network.hub,
                "--listen", f"{HUB_ADDRESS}:443", "--to", f"{self.aws.host}:{self.aws.port}",
            ],
            cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while "forwarding" not in (self.workdir / "forward.log").read_text():
            if time.monotonic() > deadline or self.forwarder.poll() is not None:
                raise BootError(f"AWS forwarder did not start: {(self.workdir / 'forward.log').read_text()}")
            time.sleep(0.05)
        print("sandbox address rewrite: " + ", ".join(f"{v} -> {a}" for v, a in self.addresses.rows()), flush=True)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def boot_all(self, nodes: Sequence[Node] | None = None) -> dict[str, float]:
        """Boot nodes at the same time, as an auto-scaling group launches them; seconds each took."""
        targets = list(nodes or self.nodes)
        took: dict[str, float] = {}
        errors: list[BaseException] = []

        def boot(node: Node) -> None:
            try:
                took[node.name] = node.boot()
            except BaseException as exc:  # noqa: BLE001 (re-raised below, after every thread ended)
                errors.append(exc)

        threads = [threading.Thread(target=boot, args=(n,)) for n in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return took

    def close(self) -> None:
        for node in self.nodes:
            try:
                node.kill()
            except Exception as exc:  # noqa: BLE001 (clean up the rest whatever happens)
                print(f"sandbox: killing {node.name} failed: {exc}", flush=True)
        if self.forwarder is not None:
            self.forwarder.kill()
            self.forwarder.wait()
        self.network.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
