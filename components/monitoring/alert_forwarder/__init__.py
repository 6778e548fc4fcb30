"""The Slack/Discord alert forwarder Lambda: `handler.py` is the whole package the program uploads."""

from pathlib import Path

HANDLER_FILE = Path(__file__).resolve().parent / "handler.py"
HANDLER = "handler.handler"
