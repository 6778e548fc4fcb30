"""How much memory the running platform uses: the summed RSS of the supervisor and every process below it (moto,
unit runners, etcd, Patroni, PostgreSQL, cache servers, IMDS stubs) and of every process in its namespaces."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The name (field 2) may hold spaces and parentheses: fields after the last ")" are fixed.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(root: int) -> set[int]:
    parents = _parents()
    found = {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def namespace_pids(namespaces: Iterable[str]) -> set[int]:
    pids: set[int] = set()
    for namespace in namespaces:
        listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
        pids |= {int(p) for p in listed.stdout.split()}
    return pids


def rss_kib(pid: int) -> int:
    """VmRSS of the process, 0 for a process gone or a kernel thread."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def platform_memory(supervisor: int, namespaces: Iterable[str]) -> tuple[int, int]:
    """(processes, summed RSS in KiB): shared pages (PostgreSQL's shared_buffers) count once per process mapping
    them, so this is an upper bound of what the platform holds."""
    pids = descendants(supervisor) | namespace_pids(namespaces)
    sizes = [rss_kib(pid) for pid in pids]
    return sum(1 for size in sizes if size), sum(sizes)
