"""Run the operator CLI as users do: `python -m scripts ...` in a subprocess, stdout and stderr piped (so the
output is what CI logs and files get)."""

import subprocess
import sys
from collections.abc import Mapping

from scripts import PROJECT_DIR


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=None if env is None else dict(env),
        timeout=timeout,
    )
