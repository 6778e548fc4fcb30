"""Forward TCP from an address inside a sandbox network namespace to a service on the host's loopback.

`python -m scripts.sandbox.forward --netns NS --listen ADDR:PORT --to HOST:PORT`: the listening socket is made in
NS (setns around socket creation, before any thread starts) and every outgoing connection in the host namespace,
so moto, started by the tests on the host's loopback, answers the nodes without a route between the two. Bytes
pass unchanged (TLS is end to end between the node and moto).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def listen_in_netns(netns: str, host: str, port: int) -> socket.socket:
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((host, port))
            server.listen(128)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)
    return server


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction of a TCP connection until either side ends, then shut both down."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (sink, source):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def splice(client: socket.socket, upstream: socket.socket) -> None:
    """Copy both directions between two connected sockets until both end, then close them."""
    upstream.settimeout(None)
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
    client.close()
    upstream.close()


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    splice(client, upstream)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryb-sandbox-forward")
    parser.add_argument("--netns", required=True)
    parser.add_argument("--listen", required=True, help="ADDR:PORT inside the namespace")
    parser.add_argument("--to", required=True, help="HOST:PORT in the host namespace")
    args = parser.parse_args(argv)
    listen_host, listen_port = args.listen.rsplit(":", 1)
    to_host, to_port = args.to.rsplit(":", 1)
    server = listen_in_netns(args.netns, listen_host, int(listen_port))
    print(f"forwarding {args.netns} {args.listen} -> {args.to}", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve, args=(client, (to_host, int(to_port))), daemon=True).start()


if __name__ == "__main__":
    raise SystemExit(main())
