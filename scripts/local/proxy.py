"""Host-side TCP forwarders into the sandbox: a client on this machine connects to a loopback address of the host
(127.0.x.y, every one of which is local on `lo`), and the forwarder connects, from a thread moved onto the sandbox's
hub namespace, to the node behind it. Bytes pass unchanged: TLS is end to end between the client and the node.

A forwarder's target is chosen per connection: a fixed node (a cache node, whose cluster redirects name node
addresses), or the node whose Patroni REST API answers 200 on `/primary` (the writer, as the NLB's health check
does on EC2) or `/replica` (the reader).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scripts.local.nodes import in_netns
from scripts.sandbox.forward import splice

Chooser = Callable[[], "str | None"]


def patroni_answers(netns: str, address: str, check: str, timeout: float = 2.0) -> bool:
    """Whether the node's Patroni REST API (https://address:8008) answers 200 to `check` (`primary`, `replica`)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # Patroni's REST certificate is the node's own self-signed one
    with in_netns(netns):
        sock = socket.create_connection((address, 8008), timeout=timeout)
    try:
        with context.wrap_socket(sock) as tls:
            tls.sendall(f"GET /{check} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            status = tls.recv(64).decode(errors="replace")
    finally:
        sock.close()
    return status.split(" ")[1:2] == ["200"]


def patroni_chooser(netns: str, addresses: Sequence[str], check: str) -> Chooser:
    def choose() -> str | None:
        for address in addresses:
            try:
                if patroni_answers(netns, address, check):
                    return address
            except OSError:
                continue
        return None

    return choose


@dataclass
class Forwarder:
    """Listens on `listen` (host loopback) and forwards into `netns` to the chosen address on `port`."""

    listen: tuple[str, int]
    netns: str
    port: int
    choose: Chooser
    server: socket.socket | None = None
    source: str | None = None
    """The address connections come from inside the sandbox (the application's VPC address pg_hba admits)."""

    def open(self) -> None:
        """Bind now (a port in use fails here, before anything else starts)."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(self.listen)
        except OSError:
            server.close()
            raise
        server.listen(128)
        self.server = server

    def serve_in_background(self) -> None:
        threading.Thread(target=self._accept, daemon=True, name=f"forward-{self.listen[0]}:{self.listen[1]}").start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            target = self.choose()
            if target is None:
                client.close()
                return
            with in_netns(self.netns):
                source = (self.source, 0) if self.source else None
                upstream = socket.create_connection((target, self.port), timeout=10, source_address=source)
        except OSError:
            client.close()
            return
        splice(client, upstream)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def fixed(address: str) -> Chooser:
    return lambda: address
