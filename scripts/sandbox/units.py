"""systemd units as rendered: parse them, order them, and check them with `systemd-analyze verify`.

The sandbox honours, per service: Type (simple, notify, oneshot), RemainAfterExit, User, Group, EnvironmentFile,
Environment, ExecStartPre, ExecStart, ExecReload ($MAINPID), Restart/RestartSec, PrivateTmp and NoNewPrivileges;
per timer: OnBootSec and OnUnitActiveSec (OnCalendar timers are started by hand: a week does not pass in a test).
Ordering is After/Before, and Requires/Wants pull units in. Directives the sandbox cannot honour are listed by
`unhonoured()`, so a unit never silently runs differently from how it reads.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HONOURED = {
    "Unit": {"Description", "After", "Before", "Requires", "Wants"},
    "Service": {
        "Type", "RemainAfterExit", "User", "Group", "EnvironmentFile", "Environment", "ExecStartPre", "ExecStart",
        "ExecReload", "Restart", "RestartSec", "PrivateTmp", "NoNewPrivileges", "KillMode", "TimeoutSec",
    },
    "Timer": {"OnBootSec", "OnUnitActiveSec", "OnCalendar", "AccuracySec", "RandomizedDelaySec", "Persistent", "Unit"},
    "Install": {"WantedBy"},
}  # fmt: skip
# Read but not enforced here; says why each is harmless to leave out in a test.
NOT_ENFORCED = {
    "LimitNOFILE": "the sandbox's own limit is higher than any rendered one",
    "ProtectHome": "no node process reads /home or /root",
    "ProtectSystem": "/usr and /etc are this machine's (read as the image) or the node's own; no unit writes there",
    "KillMode": "the sandbox kills whole nodes (kill -9) and stops units by their main process",
    "TimeoutSec": "oneshot units run to completion",
    "AccuracySec": "timers fire when due",
    "RandomizedDelaySec": "calendar timers are started by hand",
    "Persistent": "calendar timers are started by hand",
}


@dataclass(frozen=True)
class Unit:
    name: str
    sections: Mapping[str, tuple[tuple[str, str], ...]]

    def values(self, section: str, key: str) -> list[str]:
        return [v for k, v in self.sections.get(section, ()) if k == key]

    def value(self, section: str, key: str, default: str = "") -> str:
        found = self.values(section, key)
        return found[-1] if found else default

    def words(self, section: str, key: str) -> list[str]:
        return [word for value in self.values(section, key) for word in value.split()]

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.value("Service", key)
        return default if not value else value.lower() in ("yes", "true", "1", "on")

    @property
    def kind(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def service_type(self) -> str:
        return self.value("Service", "Type", "simple")

    def unhonoured(self) -> list[str]:
        return sorted(
            f"{section}.{key}"
            for section, pairs in self.sections.items()
            for key, _ in pairs
            if key not in HONOURED.get(section, set()) and key not in NOT_ENFORCED
        )


def parse_unit(name: str, text: str) -> Unit:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        if current is None or "=" not in line:
            raise ValueError(f"{name}: cannot parse line {raw!r}")
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return Unit(name, {section: tuple(pairs) for section, pairs in sections.items()})


def template_of(name: str) -> tuple[str, str] | None:
    """`cryb-pgbackrest-backup@full.service` -> (`cryb-pgbackrest-backup@.service`, `full`)."""
    match = re.fullmatch(r"(.+@)(.+)(\.\w+)", name)
    return (f"{match.group(1)}{match.group(3)}", match.group(2)) if match else None


def instantiate(template: Unit, name: str, instance: str) -> Unit:
    return Unit(
        name,
        {
            s: tuple((k, v.replace("%i", instance).replace("%I", instance)) for k, v in p)
            for s, p in template.sections.items()
        },
    )


def normalise(name: str) -> str:
    return name if "." in name else f"{name}.service"


@dataclass
class UnitSet:
    """The units of one node (its /etc/systemd/system)."""

    units: dict[str, Unit] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> UnitSet:
        units = {}
        for path in sorted(directory.glob("*")):
            if path.is_file() and path.suffix in (".service", ".timer", ".target", ".mount"):
                units[path.name] = parse_unit(path.name, path.read_text())
        return cls(units)

    def get(self, name: str) -> Unit | None:
        name = normalise(name)
        if name in self.units:
            return self.units[name]
        template = template_of(name)
        if template and template[0] in self.units:
            return instantiate(self.units[template[0]], name, template[1])
        return None

    def closure(self, names: Iterable[str]) -> list[str]:
        """The requested units and what they Require/Want (known ones; `network-online.target` etc. are not)."""
        seen: list[str] = []
        stack = [normalise(n) for n in names]
        while stack:
            name = stack.pop(0)
            unit = self.get(name)
            if name in seen or unit is None:
                continue
            seen.append(name)
            stack += unit.words("Unit", "Requires") + unit.words("Unit", "Wants")
        return seen

    def start_order(self, names: Iterable[str]) -> list[str]:
        """Topological order by After/Before among the units to start (stable: request order breaks ties)."""
        wanted = self.closure(names)
        before: dict[str, set[str]] = {n: set() for n in wanted}  # n -> units that must start before n
        for name in wanted:
            unit = self.get(name)
            assert unit is not None
            for other in unit.words("Unit", "After"):
                if other in before:
                    before[name].add(other)
            for other in unit.words("Unit", "Before"):
                if other in before:
                    before[other].add(name)
        ordered: list[str] = []
        while len(ordered) < len(wanted):
            ready = [n for n in wanted if n not in ordered and before[n] <= set(ordered)]
            if not ready:
                raise ValueError(f"ordering cycle among {sorted(set(wanted) - set(ordered))}")
            ordered.append(ready[0])
        return ordered


def split_exec(line: str, main_pid: int | None = None) -> tuple[bool, list[str]]:
    """(failure ignored, argv) of an Exec*= line; `-` ignores failure, `$MAINPID` is the main process."""
    ignore = line.startswith("-")
    line = line.lstrip("-@+!:")
    if main_pid is not None:
        line = line.replace("$MAINPID", str(main_pid)).replace("${MAINPID}", str(main_pid))
    return ignore, shlex.split(line)


def parse_environment_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile: KEY=VALUE lines, # comments, optional double or single quotes."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def parse_environment(values: Iterable[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values:
        for assignment in shlex.split(value):
            key, _, item = assignment.partition("=")
            env[key] = item
    return env


def verify(root: Path, unit_paths: Iterable[str]) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify --root=ROOT UNIT...`: syntax, dependencies and that every Exec binary exists."""
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *unit_paths], capture_output=True, text=True, timeout=60
    )
