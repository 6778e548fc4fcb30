"""Free loopback TCP ports for test servers.

Ports are never hard-coded: the kernel hands out an unused ephemeral port when
we bind to port 0, which is the only reliable way to avoid clashes with other
test runs or services on the same machine.  There is an unavoidable window
between closing our probe socket and the server binding the port, so the
server helpers retry with a fresh port when a bind clash is detected (see
``looks_like_port_clash``).
"""

from __future__ import annotations

import socket
from contextlib import ExitStack

LOOPBACK = "127.0.0.1"

_CLASH_MARKERS = (
    "address already in use",
    "connection in use",  # gunicorn (scripts/servers/moto_tls.py)
    "could not bind",
    "could not create any tcp/ip sockets",
    "eaddrinuse",
)


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free at the time of the call."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return ``count`` distinct free ports.

    All probe sockets are held open until every port has been picked, so the
    kernel cannot hand out the same port twice (needed e.g. for a redis cluster
    where each node needs a client port and a cluster-bus port).
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    with ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.2) -> bool:
    """Return True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def looks_like_port_clash(log_text: str) -> bool:
    """Heuristic: did a server fail to start because its port was taken?"""
    lowered = log_text.lower()
    return any(marker in lowered for marker in _CLASH_MARKERS)
