"""The sandbox's own network: a hub namespace with a bridge, and one network namespace per node.

Per node, because the rendered files also listen on 127.0.0.1 (etcd's local client URL) and each node needs its own
IMDS at 169.254.169.254: both only exist once per namespace. The node's alias (addresses.py) sits on its veth to the
hub's bridge, so nodes reach each other; loopback addresses are routed between namespaces (`route_localnet`), and
127.0.0.1 stays on each node's `lo` alone. Nothing here touches the host's network namespace.
"""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field

IMDS_ADDRESS = "169.254.169.254"
HUB_ADDRESS = "127.255.0.1"
"""The hub's address on the bridge: the AWS endpoints (forwarded to moto) answer here."""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def in_netns(netns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], check=check, capture_output=True, text=True)


def _localnet(netns: str, *interfaces: str) -> None:
    settings = [f"net.ipv4.conf.{name}.route_localnet=1" for name in ("all", "default", *interfaces)]
    in_netns(netns, "sysctl", "-qw", *settings)


def _loopback_only_local(netns: str) -> None:
    """127.0.0.1/8 on lo would claim every 127.x address as local: keep only 127.0.0.1 there."""
    ip("-n", netns, "addr", "del", "127.0.0.1/8", "dev", "lo")
    ip("-n", netns, "addr", "add", "127.0.0.1/32", "dev", "lo")


@dataclass
class Network:
    """Namespaces named `crybsbx-<id>-...`; `close()` deletes every one of them."""

    sandbox_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    namespaces: list[str] = field(default_factory=list)

    @property
    def hub(self) -> str:
        return f"crybsbx-{self.sandbox_id}-hub"

    def _add(self, name: str) -> str:
        ip("netns", "add", name)
        self.namespaces.append(name)
        return name

    def create(self) -> None:
        hub = self._add(self.hub)
        ip("-n", hub, "link", "set", "lo", "up")
        _loopback_only_local(hub)
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "link", "set", "br0", "up")
        _localnet(hub, "br0")
        ip("-n", hub, "addr", "add", f"{HUB_ADDRESS}/8", "dev", "br0")

    def add_node(self, key: str, alias: str) -> str:
        """A namespace for one node answering on `alias`; its name is returned (`ip netns exec NAME ...`)."""
        netns = self._add(f"crybsbx-{self.sandbox_id}-{key}")
        port = f"sbx{self.sandbox_id}{key}"[:15]
        ip("link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", port, "netns", self.hub)
        ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
        ip("-n", netns, "link", "set", "lo", "up")
        _loopback_only_local(netns)
        ip("-n", netns, "addr", "add", f"{IMDS_ADDRESS}/32", "dev", "lo")
        _localnet(netns, "eth0", "lo")
        ip("-n", netns, "addr", "add", f"{alias}/8", "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        return netns

    def close(self) -> None:
        for name in reversed(self.namespaces):
            ip("netns", "del", name, check=False)
        self.namespaces.clear()
