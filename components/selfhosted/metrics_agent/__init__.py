"""The node-side metrics agent of self-hosted Patroni clusters: `agent.py` is copied to every node as is (standard
library and boto3 only: Debian's python3 and python3-boto3 run it)."""

from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "agent.py"
NODE_DIMENSIONS = ("Cluster", "Node")
"""Dimensions of every metric the agent publishes (agent.py spells them out; tests check they agree): the cluster's
component name and the Patroni member, both stable across instance replacements and known when rendering."""
REPLICATION_LAG_BYTES = "replication_lag_bytes"
