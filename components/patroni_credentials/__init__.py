"""The node-side credentials agent of self-hosted Patroni clusters: `agent.py` is copied to every node as is
(standard library and boto3 only: Debian's python3 and python3-boto3 run it)."""

from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "agent.py"
