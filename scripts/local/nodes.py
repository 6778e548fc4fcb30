"""Questions asked of booted nodes, shared by the sandbox scenarios and the local platform: a Patroni member list
through the node's own REST API, a thread moved onto a sandbox network namespace, waiting for a condition."""

from __future__ import annotations

import ctypes
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from scripts.sandbox.node import Node

CLONE_NEWNET = 0x40000000
NETNS_LOCK = threading.RLock()


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


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """The first truthy answer of `check` (typed Any: callers wait for "a leader" and get the node)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


@contextmanager
def in_netns(netns: str) -> Iterator[None]:
    """Run the block with this thread (only) in the network namespace: sockets made inside it stay there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)


def rendered_cache_port(node: Node) -> int:
    conf = node.config.file("/etc/cryb-cache/node.conf").content
    return int(next(line.split()[1] for line in conf.splitlines() if line.startswith("tls-port ")))
