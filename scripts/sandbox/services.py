"""The unit runner of one node (no systemd runs here) and the `systemctl` stand-in inside the node that drives it.

The rendered scripts call `systemctl daemon-reload`, `enable --now`, `reload`, ...; inside a node, /usr/bin/systemctl
is a small client (SYSTEMCTL_STANDIN) that sends its arguments over a unix socket to this runner. `enable` writes the
`<target>.wants/` links as systemctl does, so a rebooted node starts what was enabled, and nothing else.
"""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from scripts.sandbox.image import Image
from scripts.sandbox.units import Unit, UnitSet, normalise, parse_environment, parse_environment_file, split_exec

CONTROL_DIR = "/var/lib/cryb-sandbox"
SOCKET_NAME = "systemctl.sock"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SKIP_BIN = f"{CONTROL_DIR}/skipped-bin"
"""Stubs of skipped commands that are found through PATH: first on every PATH inside the node."""
NODE_PATH = f"{SKIP_BIN}:{DEFAULT_PATH}"

SYSTEMCTL_STANDIN = f"""#!/usr/bin/python3
# cryb-sandbox's systemctl: forwards the call to the node's unit runner (scripts/sandbox/services.py).
import json, socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect("{CONTROL_DIR}/{SOCKET_NAME}")
client.sendall(json.dumps(sys.argv[1:]).encode() + b"\\n")
reply = json.loads(client.makefile().readline())
sys.stdout.write(reply["out"])
sys.exit(reply["code"])
"""


class NodeRuntime(Protocol):
    """What the runner needs from a node: spawn a process inside it, and find its files."""

    name: str

    def spawn(
        self, argv: Sequence[str], *, user: str, group: str, env: dict[str, str], private_tmp: bool,
        no_new_privileges: bool, log: Path,
    ) -> subprocess.Popen[bytes]: ...  # fmt: skip

    def path(self, node_path: str) -> Path: ...

    def note(self, message: str) -> None: ...


@dataclass
class Running:
    unit: Unit
    process: subprocess.Popen[bytes] | None
    """None for an exited oneshot that remains active."""
    stopping: bool = False


@dataclass
class ServiceManager:
    node: NodeRuntime
    image: Image
    units: UnitSet = field(default_factory=UnitSet)
    running: dict[str, Running] = field(default_factory=dict)
    timers: dict[str, float] = field(default_factory=dict)
    """Active timer -> monotonic time its service runs next."""
    hold: bool = False
    """Units are enabled but not started (a node booted to be worked on by hand, e.g. a restore)."""
    halted: bool = False
    booted_at: float = field(default_factory=time.monotonic)
    history: list[str] = field(default_factory=list)
    activated: set[str] = field(default_factory=set)
    """Every unit started (or reported started, when skipped) since the node was first booted."""
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: socketserver.ThreadingUnixStreamServer | None = None

    # -- the control socket ----------------------------------------------------------------------------------
    def serve(self) -> None:
        socket_path = self.node.path(f"{CONTROL_DIR}/{SOCKET_NAME}")
        socket_path.unlink(missing_ok=True)
        manager = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                argv = json.loads(self.rfile.readline())
                code, out = manager.systemctl(argv)
                self.wfile.write(json.dumps({"code": code, "out": out}).encode() + b"\n")

        self._server = socketserver.ThreadingUnixStreamServer(str(socket_path), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True, name=f"systemctl-{self.node.name}").start()
        threading.Thread(target=self._supervise, daemon=True, name=f"units-{self.node.name}").start()

    def systemctl(self, argv: list[str]) -> tuple[int, str]:
        """Serve one `systemctl ARGS` call made inside the node."""
        self.history.append(" ".join(argv))
        args = [a for a in argv if not a.startswith("-")]
        now = "--now" in argv
        if not args:
            return 1, "cryb-sandbox systemctl: no command\n"
        command, names = args[0], [normalise(n) for n in args[1:]]
        try:
            if command == "daemon-reload":
                self.load()
            elif command == "enable":
                self.enable(names)
                if now:
                    self.start_all(names)
            elif command in ("disable", "mask"):
                for name in names:
                    self.stop(name)
            elif command == "start":
                self.start_all(names)
            elif command == "stop":
                for name in names:
                    self.stop(name)
            elif command == "restart":
                for name in names:
                    self.stop(name)
                self.start_all(names)
            elif command == "reload":
                for name in names:
                    self.reload(name)
            elif command == "is-active":
                active = all(self.is_active(n) for n in names)
                return (0, "active\n") if active else (3, "inactive\n")
            else:
                return 1, f"cryb-sandbox systemctl: {command} is not served\n"
        except UnitError as exc:
            return 1, f"{exc}\n"
        return 0, ""

    # -- units -----------------------------------------------------------------------------------------------
    def load(self) -> None:
        with self._lock:
            self.units = UnitSet.load(self.node.path("/etc/systemd/system"))

    def enabled(self) -> list[str]:
        """Units linked from a `.wants/` directory, in the order the links were made (systemctl enable)."""
        base = self.node.path("/etc/systemd/system")
        links = [link for wants in base.glob("*.wants") for link in wants.iterdir()]
        return [link.name for link in sorted(links, key=lambda p: p.lstat().st_mtime_ns)]

    def enable(self, names: Sequence[str]) -> None:
        base = self.node.path("/etc/systemd/system")
        for name in names:
            unit = self._unit(name)
            for target in unit.words("Install", "WantedBy"):
                wants = base / f"{target}.wants"
                wants.mkdir(exist_ok=True)
                link = wants / name
                if not link.is_symlink():
                    link.symlink_to(f"/etc/systemd/system/{name}")

    def _unit(self, name: str) -> Unit:
        unit = self.units.get(name)
        if unit is None:
            raise UnitError(f"Unit {name} not found.")
        return unit

    def boot(self) -> None:
        """What systemd does at boot: start every enabled unit, in dependency order."""
        self.booted_at = time.monotonic()
        self.load()
        self.start_all(self.enabled())

    def start_all(self, names: Sequence[str]) -> None:
        for name in self.units.start_order(names):
            self.start(name)

    def is_active(self, name: str) -> bool:
        name = normalise(name)
        with self._lock:
            if name in self.timers:
                return True
            running = self.running.get(name)
            if running is None:
                return False
            return running.process is None or running.process.poll() is None

    def start(self, name: str) -> None:
        name = normalise(name)
        if self.halted or self.is_active(name):
            return
        if self.hold:
            self.node.note(f"not starting {name}: the node was booted with its units held")
            return
        self.activated.add(name)
        skip = self.image.skip_for(name)
        if skip is not None:
            self.node.note(f"skipped unit {name}: {skip.reason}")
            with self._lock:
                self.running[name] = Running(self._unit(name), None)
            return
        unit = self._unit(name)
        if unit.kind == "timer":
            self._arm(name, unit)
            return
        if unit.kind != "service":
            return
        env = self._environment(unit)
        log = self.node.path(f"{CONTROL_DIR}/journal/{name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)

        def spawn(line: str) -> tuple[bool, subprocess.Popen[bytes]]:
            ignore, argv = split_exec(line)
            process = self.node.spawn(
                argv,
                user=unit.value("Service", "User", "root"),
                group=unit.value("Service", "Group", ""),
                env=env,
                private_tmp=unit.flag("PrivateTmp"),
                no_new_privileges=unit.flag("NoNewPrivileges"),
                log=log,
            )
            return ignore, process

        for line in unit.values("Service", "ExecStartPre"):
            ignore, process = spawn(line)
            if process.wait() != 0 and not ignore:
                raise UnitError(f"{name}: ExecStartPre {line} failed ({process.returncode}); see {log}")
        if unit.service_type == "oneshot":
            for line in unit.values("Service", "ExecStart"):
                ignore, process = spawn(line)
                if process.wait() != 0 and not ignore:
                    raise UnitError(f"{name}: {line} failed ({process.returncode}); see {log}")
            with self._lock:
                if unit.flag("RemainAfterExit"):
                    self.running[name] = Running(unit, None)
                else:
                    self.running.pop(name, None)
            self._rearm_after(name)
            return
        # simple and notify (readiness is not awaited: the scenarios wait for what they need)
        _, process = spawn(unit.value("Service", "ExecStart"))
        with self._lock:
            self.running[name] = Running(unit, process)

    def _environment(self, unit: Unit) -> dict[str, str]:
        user = unit.value("Service", "User", "root")
        home = "/root" if user == "root" else os.path.expanduser(f"~{user}")
        env = {"PATH": NODE_PATH, "LANG": "C.UTF-8", "HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/bin/sh"}
        for value in unit.values("Service", "EnvironmentFile"):
            optional = value.startswith("-")
            path = self.node.path(value.lstrip("-"))
            if not path.exists():
                if optional:
                    continue
                raise UnitError(f"{unit.name}: EnvironmentFile {value} does not exist")
            env.update(parse_environment_file(path.read_text()))
        env.update(parse_environment(unit.values("Service", "Environment")))
        return env

    def stop(self, name: str) -> None:
        name = normalise(name)
        with self._lock:
            self.timers.pop(name, None)
            running = self.running.pop(name, None)
        if running and running.process and running.process.poll() is None:
            running.stopping = True
            running.process.terminate()
            try:
                running.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                running.process.kill()

    def reload(self, name: str) -> None:
        name = normalise(name)
        with self._lock:
            running = self.running.get(name)
        if running is None or running.process is None or running.process.poll() is not None:
            raise UnitError(f"Job for {name} failed: the unit is not active.")
        for line in running.unit.values("Service", "ExecReload"):
            _, argv = split_exec(line, main_pid=running.process.pid)
            log = self.node.path(f"{CONTROL_DIR}/journal/{name}.log")
            process = self.node.spawn(
                argv,
                user="root",
                group="",
                env={"PATH": NODE_PATH},
                private_tmp=False,
                no_new_privileges=False,
                log=log,
            )
            if process.wait() != 0:
                raise UnitError(f"{name}: ExecReload {line} failed")

    # -- timers and restarts ---------------------------------------------------------------------------------
    def _arm(self, name: str, timer: Unit) -> None:
        boot = _seconds(timer.value("Timer", "OnBootSec"))
        with self._lock:
            if boot is not None:
                self.timers[name] = self.booted_at + boot
            else:
                self.timers[name] = float("inf")  # OnCalendar: started by hand in a scenario
                self.node.note(f"timer {name} ({timer.value('Timer', 'OnCalendar')}): start its service by hand")

    def _service_of(self, timer_name: str) -> str:
        timer = self._unit(timer_name)
        return timer.value("Timer", "Unit") or timer_name.rsplit(".", 1)[0] + ".service"

    def _rearm_after(self, service: str) -> None:
        with self._lock:
            for timer_name in list(self.timers):
                if self._service_of(timer_name) == service:
                    every = _seconds(self._unit(timer_name).value("Timer", "OnUnitActiveSec"))
                    if every is not None:
                        self.timers[timer_name] = time.monotonic() + every

    def _supervise(self) -> None:
        while not self.halted:
            time.sleep(0.5)
            with self._lock:
                due = [t for t, at in self.timers.items() if at <= time.monotonic()]
                for timer_name in due:
                    self.timers[timer_name] = float("inf")  # until the run ends (_rearm_after)
                exited = [
                    (n, r) for n, r in self.running.items()
                    if r.process is not None and r.process.poll() is not None and not r.stopping
                ]  # fmt: skip
            for timer_name in due:
                self._in_background(lambda t=timer_name: self.start(self._service_of(t)))
            for name, running in exited:
                policy = running.unit.value("Service", "Restart", "no")
                failed = running.process is not None and running.process.returncode != 0
                if policy == "always" or (policy == "on-failure" and failed):
                    delay = _seconds(running.unit.value("Service", "RestartSec")) or 0.1
                    with self._lock:
                        self.running.pop(name, None)
                    self._in_background(lambda n=name, d=delay: (time.sleep(d), self.start(n)))

    def _in_background(self, action: Callable[[], object]) -> None:
        def run() -> None:
            try:
                action()
            except UnitError as exc:
                self.node.note(str(exc))

        threading.Thread(target=run, daemon=True).start()

    def halt(self) -> None:
        """The machine is gone: stop serving and supervising, signal nothing (the node's processes are killed)."""
        self.halted = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class UnitError(RuntimeError):
    pass


def _seconds(value: str) -> float | None:
    """systemd time spans as rendered here: `60`, `30s`, `2min`."""
    if not value:
        return None
    value = value.strip()
    for suffix, factor in (("min", 60), ("ms", 0.001), ("s", 1), ("h", 3600)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)
