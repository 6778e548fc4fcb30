"""The local platform's state file (`.local/state.json`, git-ignored): what `up`'s supervisor started, so `status`,
`logs` and `down` work from any other process. The supervisor writes it; the others only read it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scripts.sandbox.node import PROJECT_DIR

STATE_DIR = Path(os.environ.get("CRYB_LOCAL_DIR") or PROJECT_DIR / ".local")
"""Overridable (`CRYB_LOCAL_DIR`) so a test's platform keeps its state apart from a developer's."""
STATE_FILE = STATE_DIR / "state.json"
OUTPUTS_FILE = Path(os.environ.get("CRYB_LOCAL_OUTPUTS") or PROJECT_DIR / "outputs.local.json")


@dataclass
class NodeState:
    name: str
    cluster: str
    kind: str
    """`postgres` or `cache`."""
    address: str
    """The node's loopback alias: in its sandbox, and (forwarded) on this machine."""
    port: int
    netns: str
    logs: list[str] = field(default_factory=list)
    phase: str = "pending"
    """pending, booting, booted, failed."""
    boot_seconds: float | None = None
    role: str = "-"
    healthy: bool = False


@dataclass
class State:
    pid: int
    stack: str
    phase: str = "starting"
    """starting, up, failed, stopping."""
    error: str = ""
    started_at: float = 0.0
    up_seconds: float | None = None
    namespaces: list[str] = field(default_factory=list)
    listeners: list[str] = field(default_factory=list)
    """host:port of every forwarder on this machine's loopback."""
    environment: dict[str, str] = field(default_factory=dict)
    """What a client on this machine sets to reach the local AWS (moto)."""
    nodes: list[NodeState] = field(default_factory=list)
    checked_at: float = 0.0
    tuning: dict[str, str] = field(default_factory=dict)
    """The PostgreSQL parameters every node was booted with (scripts/local/tuning.py), and `budget`: its share."""
    notes: list[str] = field(default_factory=list)
    """What `up` and `status` say besides the table: a self-hosted cluster's TimescaleDB fallback."""
    memory: dict[str, float] = field(default_factory=dict)
    """`processes`, `rss_mib` (summed RSS of the platform's processes) and `peak_rss_mib` since `up`."""

    def node(self, name: str) -> NodeState | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> State:
        data: dict[str, Any] = json.loads(text)
        nodes = [NodeState(**n) for n in data.pop("nodes", [])]
        return cls(**data, nodes=nodes)


def write_state(state: State, path: Path = STATE_FILE) -> None:
    """Atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)


def read_state(path: Path = STATE_FILE) -> State | None:
    try:
        return State.from_json(path.read_text())
    except FileNotFoundError:
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
