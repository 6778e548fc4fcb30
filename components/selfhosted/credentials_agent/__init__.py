"""The node-side credentials agent of self-hosted Patroni clusters: `agent.py` is copied to every node as is
(standard library and boto3 only: Debian's python3 and python3-boto3 run it)."""

from pathlib import Path

AGENT_FILE = Path(__file__).resolve().parent / "agent.py"
ROTATION_TAG_PREFIX = "cryb-rotation-"
"""Tags the agents acknowledge a rotation with and the rotation function removes (agent.py and handler.py, which
cannot import this package where they run, spell it out; tests check they agree)."""


def acknowledgement_tags_only() -> dict[str, dict[str, object]]:
    """IAM condition: the request sets or removes `cryb-rotation-*` tags and no other (the nodes tag, the rotation
    function untags)."""
    return {
        "ForAllValues:StringLike": {"aws:TagKeys": [f"{ROTATION_TAG_PREFIX}*"]},
        "Null": {"aws:TagKeys": "false"},
    }
