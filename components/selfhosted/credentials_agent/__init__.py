"""The node-side credentials agent of self-hosted Patroni clusters: `agent.py` is copied to every node as is
(standard library and boto3 only: Debian's python3 and python3-boto3 run it)."""

from pathlib import Path

from components.rotation.acknowledged import TAG_PREFIX as ROTATION_TAG_PREFIX
from components.rotation.policies import acknowledgement_tags_only

__all__ = ["AGENT_FILE", "ROTATION_TAG_PREFIX", "acknowledgement_tags_only"]

AGENT_FILE = Path(__file__).resolve().parent / "agent.py"
