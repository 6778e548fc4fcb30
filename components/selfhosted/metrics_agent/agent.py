#!/usr/bin/python3
"""cryb-pg-metrics: publish what CloudWatch cannot see of a Patroni node (docs/monitoring.md#replication-lag-node).

Runs from a systemd timer every minute on every node. Each run asks the node's own Patroni REST API for the cluster
(`GET /cluster`: every member's role, state and replication lag in bytes, as the leader's WAL position in etcd
minus the member's) and publishes, for this node:

- `replication_lag_bytes`: 0 while the node is the leader, its lag behind the leader while it is a running replica
  (a replica Patroni reports as `unknown`, not streaming, or not running publishes nothing: the alarm on missing
  data and the node alarms cover it).

Metrics go to the namespace and dimensions of the config (/etc/cryb-db/metrics-agent.json, written by the node's user
data): {Cluster, Node}, both stable across instance replacements. The agent keeps no state; a failed run is retried
by the next one.
"""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("cryb-pg-metrics")
LEADER_ROLES = ("leader", "standby_leader", "master", "primary")
REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")
RUNNING_STATES = ("running", "streaming")


class AgentError(Exception):
    """A run cannot publish."""


@dataclass(frozen=True)
class MetricsConfig:
    """/etc/cryb-db/metrics-agent.json (components/selfhosted/cloud_init.py)."""

    region: str
    namespace: str
    cluster: str
    """The cluster's component name (`cryb-prod-analytics`): the `Cluster` dimension."""
    node: str
    """This node's Patroni member name (`analytics-a`): the `Node` dimension."""
    restapi_url: str
    endpoint_url: str | None = None

    @classmethod
    def load(cls, path: str) -> MetricsConfig:
        return cls(**json.loads(Path(path).read_text()))


# -- pure parts ---------------------------------------------------------------------------------------------------
def replication_lag_bytes(cluster: dict[str, Any], node: str) -> float | None:
    """This node's lag in bytes from Patroni's /cluster document: 0 as leader, the member's `lag` as a running
    replica, None when Patroni does not know it (not a member, stopped, `lag: unknown`)."""
    member = next((m for m in cluster.get("members", []) if m.get("name") == node), None)
    if member is None or member.get("state") not in RUNNING_STATES:
        return None
    if member.get("role") in LEADER_ROLES:
        return 0.0
    lag = member.get("lag")
    if member.get("role") not in REPLICA_ROLES or not isinstance(lag, int | float) or isinstance(lag, bool):
        return None
    return float(lag)


def metric_data(config: MetricsConfig, lag: float | None) -> list[dict[str, Any]]:
    if lag is None:
        return []
    dimensions = [{"Name": "Cluster", "Value": config.cluster}, {"Name": "Node", "Value": config.node}]
    return [{"MetricName": "replication_lag_bytes", "Dimensions": dimensions, "Value": lag, "Unit": "Bytes"}]


# -- the node -----------------------------------------------------------------------------------------------------
def read_cluster(restapi_url: str) -> dict[str, Any]:
    url = restapi_url.rstrip("/") + "/cluster"
    # The node's own REST API with its self-signed certificate (the credentials agent and NLB checks do the same).
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise AgentError(f"Patroni REST API {url}: {exc}") from None


def run(config: MetricsConfig, cloudwatch: Any) -> list[dict[str, Any]]:
    """One pass; returns what was published."""
    data = metric_data(config, replication_lag_bytes(read_cluster(config.restapi_url), config.node))
    if data:
        cloudwatch.put_metric_data(Namespace=config.namespace, MetricData=data)
        LOG.info("published %s", ", ".join(f"{d['MetricName']}={d['Value']:g}" for d in data))
    else:
        LOG.info("no replication lag to publish: %s is not a running member with a known lag", config.node)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryb-pg-metrics", description="Publish this Patroni node's metrics.")
    parser.add_argument("--config", default="/etc/cryb-db/metrics-agent.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        config = MetricsConfig.load(args.config)
        client = boto3.client("cloudwatch", region_name=config.region, endpoint_url=config.endpoint_url)
        run(config, client)
    except (AgentError, OSError, ValueError, TypeError) as exc:
        LOG.error("%s", exc)
        return 1
    except (BotoCoreError, ClientError) as exc:
        LOG.error("CloudWatch: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
