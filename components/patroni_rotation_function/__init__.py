"""The rotation Lambda of self-hosted Patroni cluster credentials: `handler.py` is the whole package uploaded."""

from pathlib import Path

HANDLER_FILE = Path(__file__).resolve().parent / "handler.py"
HANDLER = "handler.handler"
NODES_VARIABLE = "CLUSTER_NODES"
