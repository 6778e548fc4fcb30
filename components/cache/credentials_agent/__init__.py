"""The node-side credentials agent of self-hosted cache nodes (`engine: ec2`): `agent.py` is copied to every node
(standard library and boto3 only) and applies rotated ACL passwords (docs/cache.md#self-hosted-password-rotation)."""

from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "agent.py"
