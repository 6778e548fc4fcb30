"""What `local up` checks before it starts anything: a stack it can boot, root (namespaces and mounts), the Debian
packages the nodes run (the same list as .ci/setup.sh's node sandbox), and no platform already up."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from scripts.preview.stack_files import stack_file_path

NODE_PACKAGES = (
    "postgresql-15", "postgresql-contrib", "postgresql-15-pgaudit", "etcd-server", "etcd-client", "patroni",
    "pgbackrest", "postgresql-15-partman", "postgresql-15-cron", "redis-server", "awscli", "python3-boto3",
    "python3-yaml", "systemd", "iproute2", "procps", "util-linux", "openssl", "curl", "jq",
)  # fmt: skip


def installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False)
    return "install ok installed" in result.stdout


def missing_packages(
    packages: Sequence[str] = NODE_PACKAGES, is_installed: Callable[[str], bool] = installed
) -> list[str]:
    return [p for p in packages if not is_installed(p)]


def problems(*, euid: int | None = None, is_installed: Callable[[str], bool] = installed) -> list[str]:
    """One line per reason `up` cannot start (empty: it can)."""
    found = []
    if (os.geteuid() if euid is None else euid) != 0:
        found.append(
            "local up needs root: the nodes run in network and mount namespaces (sudo python -m scripts local up)"
        )
    missing = missing_packages(is_installed=is_installed)
    if missing:
        found.append(f"missing Debian packages: apt-get install -y {' '.join(missing)}")
    return found


def stack_problem(stack: str, config: Path | None = None) -> str | None:
    """Why `stack` (or the stack file `config`) cannot be booted here, in one line; None: it can."""
    path = config or stack_file_path(stack)
    if not path.exists():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in path.parent.glob("Pulumi.*.yaml"))
        return f"--stack {stack!r}: no {path.name} (stacks: {', '.join(known)})"
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        return f"{path.name}: not YAML ({str(exc).splitlines()[0]})"
    target = ((document.get("config") or {}) if isinstance(document, dict) else {}).get("cryb-db:target", "aws")
    if target != "aws":
        return (
            f"--stack {stack!r}: cryb-db:target is {target!r}; local up boots the 'aws' stacks' nodes "
            "(dev, prod); the docker target runs with `pulumi up --stack local` (docs/local.md)"
        )
    return None
