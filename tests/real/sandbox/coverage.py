"""Which files a node's user data writes were used by the boot and the scenarios, for any sandbox cluster.

A written file counts as used when a program read it after cloud-init wrote it (its access time is later than its
modification time: the node's directories are on this machine's relatime file system), changed or removed it, or,
for a unit, when the unit runner started it. A file no scenario used and no skip names escapes the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from scripts.sandbox.node import Node

UNIT_DIR = "/etc/systemd/system/"


def used_files(node: Node) -> set[str]:
    used = set()
    # Running now, armed timers, and oneshot units that ran and exited (a metrics agent run, a backup).
    started = set(node.services.running) | set(node.services.timers) | set(node.services.activated)
    for written in node.config.files:
        if written.path.startswith(UNIT_DIR):
            if os.path.basename(written.path) in started:
                used.add(written.path)
            continue
        target = node.path(written.path)
        if not target.exists():
            used.add(written.path)
            continue
        status = target.stat()
        if status.st_atime_ns > status.st_mtime_ns or _read_without_access(target) != node.addresses.rewrite(
            written.content
        ):
            used.add(written.path)
    return used


def _read_without_access(path: Path) -> str:
    """The file's text, read without updating its access time (O_NOATIME), so asking does not count as using."""
    fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
    with os.fdopen(fd, encoding="utf-8") as handle:
        return handle.read()


def unaccounted_files(nodes: Iterable[Node]) -> list[str]:
    """Written paths (of any node) that no node used and that the image's skip list does not name."""
    nodes = list(nodes)
    rendered = {written.path for node in nodes for written in node.config.files}
    used = {path for node in nodes for path in used_files(node)}
    skipped = {skip.name for node in nodes for skip in node.image.skips}
    skipped |= {UNIT_DIR + name for name in skipped}
    return sorted(rendered - used - skipped)
