"""Exit codes shared by every command, and the one way a command fails: one line on stderr and, when it was asked
for `--json`, one JSON error document on stdout.

Each command keeps its own codes below 64 for what it found (health: 1 warning, 2 critical; preview: 2 invalid
stack config, 3 policy violation; ...). 64 and 69 are the BSD sysexits codes for the same two situations."""

import json
import sys
from typing import Any

import typer

USAGE = 64
"""A usage error: unknown option, missing or malformed argument, unreadable input file (EX_USAGE)."""
ENVIRONMENT = 69
"""The machine is not set up for the command: no AWS credentials or region, AWS unreachable (EX_UNAVAILABLE)."""
INTERRUPTED = 130

_json_requested = False


def request_json(requested: bool) -> None:
    """Record that the command prints JSON, so `fail` also writes the error document on stdout."""
    global _json_requested  # one flag per process, set once by the entry point
    _json_requested = requested


def json_requested() -> bool:
    return _json_requested


def error_document(message: str, code: int, kind: str, **details: Any) -> dict[str, Any]:
    """The JSON error document: {"error": {"kind", "message", "exitCode", ...details}} (camelCase keys)."""
    return {"error": {"kind": kind, "message": message, "exitCode": code, **details}}


def write_error(message: str, code: int, kind: str, *, as_json: bool | None = None, **details: Any) -> None:
    """`error: <message>` on stderr, never wrapped (a message of several problems keeps one line per problem); the
    error document on stdout when JSON was requested (`as_json`, or the `--json` the entry point saw)."""
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()] or [""]
    sys.stderr.write("".join(f"error: {lines[0]}\n" + "".join(f"{line}\n" for line in lines[1:])))
    sys.stderr.flush()
    if _json_requested if as_json is None else as_json:
        sys.stdout.write(json.dumps(error_document(message, code, kind, **details)) + "\n")
        sys.stdout.flush()


def fail(message: str, code: int, kind: str = "failed", *, as_json: bool | None = None, **details: Any) -> typer.Exit:
    """Report a failure and return the Exit to raise: `raise fail("...", 2, "invalid")`."""
    write_error(message, code, kind, as_json=as_json, **details)
    return typer.Exit(code)
