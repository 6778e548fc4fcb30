#!/usr/bin/python3
"""cryb-cache-metrics: publish a self-hosted cache node's metrics under ElastiCache's names (docs/cache.md).

Every minute (systemd timer) it logs in to the local server over TLS as `admin` (password from Secrets Manager),
reads INFO, CLUSTER INFO and CLUSTER NODES, and publishes to CloudWatch, dimensions {CacheCluster, Node}:
EngineCPUUtilization (main thread CPU over a 1 s sample), DatabaseMemoryUsagePercentage, CurrConnections,
Evictions and AuthenticationFailures (since the previous run, kept in a state file), ReplicationLag and
MasterLinkHealthStatus (replicas: seconds since the master's last I/O, link up 1 / down 0; masters 1),
ClusterStateOk (1/0) and ClusterFailedNodes (nodes this one sees failed, or planned nodes it does not know).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

LOG = logging.getLogger("cryb-cache-metrics")


def command(*args: str) -> bytes:
    return b"".join([f"*{len(args)}\r\n".encode()] + [f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args])


def read_reply(stream: Any) -> Any:
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind in (b"+", b":"):
        return rest
    if kind == b"-":
        raise RuntimeError(f"server error: {rest}")
    if kind == b"$":
        return None if rest == "-1" else stream.read(int(rest) + 2)[:-2].decode()
    if kind == b"*":
        return [read_reply(stream) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected reply {line[:40]!r}")


def parse_info(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def cpu_seconds(info: dict[str, str]) -> float:
    return float(info.get("used_cpu_sys_main_thread", 0)) + float(info.get("used_cpu_user_main_thread", 0))


def failed_nodes(cluster_nodes: str, planned: int) -> int:
    """Nodes flagged failed (fail, noaddr), plus planned nodes this node does not know (a node out of the cluster)."""
    lines = [line.split() for line in cluster_nodes.splitlines() if line.strip()]
    flagged = sum(1 for parts in lines if {"fail", "noaddr"} & set(parts[2].split(",")))
    return flagged + max(0, planned - len(lines))


def metric_values(info: dict[str, str], cluster: dict[str, str], nodes: str, planned: int,
                  cpu_percent: float, previous: dict[str, float]) -> dict[str, float]:  # fmt: skip
    maxmemory = float(info.get("maxmemory", 0))
    values = {
        "EngineCPUUtilization": cpu_percent,
        "DatabaseMemoryUsagePercentage": 100.0 * float(info["used_memory"]) / maxmemory if maxmemory else 0.0,
        "CurrConnections": float(info["connected_clients"]),
        "ClusterStateOk": 1.0 if cluster.get("cluster_state") == "ok" else 0.0,
        "ClusterFailedNodes": float(failed_nodes(nodes, planned)),
    }
    for name, counter in (("Evictions", "evicted_keys"), ("AuthenticationFailures", "acl_access_denied_auth")):
        now = float(info.get(counter, 0))
        values[name] = max(0.0, now - previous.get(counter, now))  # a restart resets the counter: count from 0
    if info.get("role") == "slave":
        up = info.get("master_link_status") == "up"
        values["MasterLinkHealthStatus"] = 1.0 if up else 0.0
        since = info.get("master_last_io_seconds_ago" if up else "master_link_down_since_seconds", "-1")
        if float(since) >= 0:
            values["ReplicationLag"] = float(since)
    else:
        values["MasterLinkHealthStatus"] = 1.0
    return values


class Server:
    def __init__(self, config: dict[str, Any], password: str) -> None:
        context = ssl.create_default_context(cafile=config["ca_file"])
        context.check_hostname = False  # the node's own certificate names its VPC address, not localhost
        raw = socket.create_connection((config.get("host", "127.0.0.1"), config["port"]), timeout=5)
        self.sock = context.wrap_socket(raw)
        self.stream = self.sock.makefile("rb")
        self.call("AUTH", config.get("user", "admin"), password)

    def call(self, *args: str) -> Any:
        self.sock.sendall(command(*args))
        return read_reply(self.stream)


def run(config: dict[str, Any], secrets: Any, cloudwatch: Any, sample_seconds: float = 1.0) -> dict[str, float]:
    # AWSCURRENT named: the admin password rotates (components/cache/credentials_agent/), and moto's default version
    # does not follow a rotation's stage moves as Secrets Manager's does.
    value = secrets.get_secret_value(SecretId=config["password_secret_arn"], VersionStage="AWSCURRENT")
    password = json.loads(value["SecretString"])["password"]
    server = Server(config, password)
    before = cpu_seconds(parse_info(server.call("INFO", "cpu")))
    started = time.monotonic()
    time.sleep(sample_seconds)
    info = parse_info(server.call("INFO", "all"))
    cpu = 100.0 * (cpu_seconds(info) - before) / (time.monotonic() - started)
    cluster = parse_info(server.call("CLUSTER", "INFO"))
    nodes = server.call("CLUSTER", "NODES")
    state = Path(config["state_file"])
    previous = json.loads(state.read_text()) if state.exists() else {}
    values = metric_values(info, cluster, nodes, int(config["planned_nodes"]), round(cpu, 2), previous)
    state.write_text(json.dumps({k: float(info.get(k, 0)) for k in ("evicted_keys", "acl_access_denied_auth")}))
    dimensions = [{"Name": "CacheCluster", "Value": config["cluster"]}, {"Name": "Node", "Value": config["node"]}]
    units = {"EngineCPUUtilization": "Percent", "DatabaseMemoryUsagePercentage": "Percent", "ReplicationLag": "Seconds"}
    data = [{"MetricName": k, "Dimensions": dimensions, "Value": v, "Unit": units.get(k, "Count")}
            for k, v in values.items()]  # fmt: skip
    cloudwatch.put_metric_data(Namespace=config["namespace"], MetricData=data)
    LOG.info("published %s", ", ".join(f"{k}={v:g}" for k, v in values.items()))
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryb-cache-metrics")
    parser.add_argument("--config", default="/etc/cryb-cache/metrics-agent.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = json.loads(Path(args.config).read_text())
        import boto3

        region, endpoint = config["region"], config.get("endpoint_url") or os.environ.get("CRYB_AWS_ENDPOINT")
        run(config, boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint),
            boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint))  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - one line in the journal; the next run retries
        LOG.error("%s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
