"""One node: a launch template's user data booted in a mount namespace and a network namespace of its own.

The node's files live on this machine under `<workdir>/<key>/fs/` (so a test can read them, its logs and its
PostgreSQL socket), and are bind-mounted inside the node's mount namespace over the paths the user data names:
/etc/patroni, /etc/pgbackrest, /etc/cryb-db, /etc/systemd/system, /var/lib/postgresql, /data, /usr/local/sbin,
/run, /var/log, /tmp, ... Everything else (/usr with the installed packages, the rest of /etc) is this machine's,
read as the image. Where a mount point does not exist on this machine (/data, /etc/cryb-db, /opt/aws), an empty
directory is created for it; nothing is ever written into those host directories.

A namespace "holder" process keeps the namespaces alive; every process of the node is started inside them with
nsenter, so `kill()` is what a crashed machine looks like: kill -9 of every process in the node's network
namespace, then the namespaces' mounts are gone. `boot()` again is a reboot: /run and /tmp start empty,
tmpfiles.d is applied and the enabled units start; the first boot runs the user data's runcmd instead.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.sandbox.addresses import AddressTable
from scripts.sandbox.image import Image, stub_script
from scripts.sandbox.network import Network
from scripts.sandbox.services import CONTROL_DIR, NODE_PATH, SKIP_BIN, SYSTEMCTL_STANDIN, ServiceManager
from scripts.sandbox.units import template_of
from scripts.sandbox.userdata import CloudConfig, decode_user_data, parse_cloud_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
NODE_DIRS: dict[str, tuple[int, str]] = {
    "/etc/patroni": (0o755, "root"),
    "/etc/pgbackrest": (0o755, "root"),
    "/etc/cryb-db": (0o755, "root"),
    "/etc/systemd/system": (0o755, "root"),
    "/etc/tmpfiles.d": (0o755, "root"),
    "/etc/udev/rules.d": (0o755, "root"),
    "/etc/ssl/certs": (0o755, "root"),
    "/var/lib/postgresql": (0o755, "postgres"),
    "/var/lib/cryb-cache": (0o755, "root"),
    "/data": (0o755, "root"),
    "/usr/local/sbin": (0o755, "root"),
    "/run": (0o755, "root"),
    "/var/log": (0o755, "root"),
    "/tmp": (0o1777, "root"),
    "/opt/aws": (0o755, "root"),
    CONTROL_DIR: (0o755, "root"),
}
"""Directories each node has of its own (mode and owner when first made)."""
RESET_AT_BOOT = ("/run", "/tmp")
HOSTS_FILE = f"{CONTROL_DIR}/hosts"
SYSTEMCTL_FILE = f"{CONTROL_DIR}/systemctl"
BOOT_TIMEOUT = 300.0


class BootError(RuntimeError):
    pass


class CommandError(subprocess.CalledProcessError):
    """A command run inside a node failed; the message carries its output (the usual reason to look)."""

    def __init__(self, node: str, argv: list[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(result.returncode, argv, result.stdout, result.stderr)
        self.node = node

    def __str__(self) -> str:
        return (
            f"{self.node}: {shlex.join(self.cmd)} exited {self.returncode}\n"
            f"--- stdout ---\n{(self.stdout or '')[-3000:]}\n--- stderr ---\n{(self.stderr or '')[-3000:]}"
        )


def ec2_hostname(vpc_address: str, region: str) -> str:
    """The private DNS name EC2 gives an instance (`ip-10-0-1-5.ec2.internal`), which `hostname -f` answers there."""
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{vpc_address.replace('.', '-')}.{domain}"


@dataclass(frozen=True)
class NodeSpec:
    """A node to boot: a launch template's user data as the preview records it, and where it would run."""

    key: str
    """Short and unique in a sandbox (`a`): names the namespaces and the node's directory."""
    name: str
    user_data: str
    vpc_address: str
    instance_type: str = ""
    availability_zone: str = ""


class Node:
    def __init__(
        self,
        spec: NodeSpec,
        *,
        workdir: Path,
        network: Network,
        addresses: AddressTable,
        image: Image,
        hosts: str,
        ca_pem: bytes | None,
        region: str,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.config: CloudConfig = parse_cloud_config(decode_user_data(spec.user_data))
        self.base = workdir / spec.key
        self.root = self.base / "fs"
        self.console = self.base / "console.log"
        self.network = network
        self.addresses = addresses
        self.alias = addresses.alias(spec.vpc_address)
        self.image = image
        self.hosts = hosts
        self.ca_pem = ca_pem
        self.region = region
        self.instance_id = "i-" + secrets.token_hex(8) + "0"
        self.hostname = ec2_hostname(spec.vpc_address, region)
        """The node's own host name (its UTS namespace), EC2's private DNS name, in its /etc/hosts at its alias."""
        self.hosts = hosts + f"{self.alias} {self.hostname} {self.hostname.split('.')[0]}\n"
        self.netns: str | None = None
        self.holder: subprocess.Popen[bytes] | None = None
        self.imds: subprocess.Popen[bytes] | None = None
        self.services = ServiceManager(self, image)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.notes: list[str] = []
        self.booted = False
        self.installed: dict[str, os.stat_result] = {}
        """Each written file's status right after install: a later access or change means the node used it."""

    def __repr__(self) -> str:
        return f"<Node {self.name} {self.spec.vpc_address}->{self.alias}>"

    # -- files -----------------------------------------------------------------------------------------------
    def path(self, node_path: str) -> Path:
        """Where a path of the node lives on this machine. The image's symlinks apply (/var/run is /run)."""
        parent, name = os.path.split(node_path.rstrip("/") or "/")
        return self.root / os.path.realpath(parent).lstrip("/") / name

    def note(self, message: str) -> None:
        line = f"[{self.name}] {message}"
        self.notes.append(message)
        print(line, flush=True)

    def node_dirs(self) -> list[str]:
        """NODE_DIRS, plus the directory of any written file outside them (a new rendered path gets its own)."""
        dirs = list(NODE_DIRS)
        for written in self.config.files:
            if not any(written.path.startswith(d + "/") for d in dirs):
                dirs.append(os.path.dirname(written.path))
        return dirs

    def install(self) -> None:
        """Lay out the node's directories, the image and the user data's files (addresses rewritten, nothing else)."""
        for directory in self.node_dirs():
            mode, owner = NODE_DIRS.get(directory, (0o755, "root"))
            target = self.path(directory)
            target.mkdir(parents=True, exist_ok=True)
            target.chmod(mode)
            account = pwd.getpwnam(owner)
            os.chown(target, account.pw_uid, account.pw_gid)
            if not os.path.exists(directory):
                os.makedirs(directory, exist_ok=True)  # an empty mount point on this machine
        # The image: this machine's trust store plus the sandbox CA, and the skip stubs.
        certs = self.path("/etc/ssl/certs")
        shutil.rmtree(certs)
        shutil.copytree("/etc/ssl/certs", certs, symlinks=True)
        if self.ca_pem:
            (certs / "cryb-sandbox-ca.pem").write_bytes(self.ca_pem)
            with (certs / "ca-certificates.crt").open("ab") as bundle:
                bundle.write(b"\n" + self.ca_pem)
            subprocess.run(["openssl", "rehash", str(certs)], check=True, capture_output=True)
        for marker in self.image.markers:
            self.path(marker).parent.mkdir(parents=True, exist_ok=True)
            self.path(marker).write_text("cryb-sandbox: packages come from the image (this machine)\n")
        skip_bin = self.path(SKIP_BIN)
        skip_bin.mkdir(parents=True, exist_ok=True)
        for skip in self.image.skips:
            if skip.is_unit or skip.is_file:
                continue
            stub = (
                skip_bin / os.path.basename(skip.name)
                if not skip.name.startswith("/")
                else self.path(f"{CONTROL_DIR}/stubs{skip.name}")
            )
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text(stub_script(skip))
            stub.chmod(0o755)
        self.path(HOSTS_FILE).write_text(self.hosts)
        self.path(SYSTEMCTL_FILE).write_text(SYSTEMCTL_STANDIN)
        self.path(SYSTEMCTL_FILE).chmod(0o755)
        for written in self.config.files:
            target = self.path(written.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.addresses.rewrite(written.content))
            shutil.chown(target, written.user, written.group)
            target.chmod(written.permissions)
        for written in self.config.files:
            self.installed[written.path] = self.path(written.path).stat()
        for link, program in self.image.links.items():
            upper = self._overlay(os.path.dirname(link)) / "upper"
            upper.mkdir(parents=True, exist_ok=True)
            (upper / os.path.basename(link)).symlink_to(program)

    # -- namespaces ------------------------------------------------------------------------------------------
    def _mount_script(self) -> str:
        lines = ["set -e", f"hostname {shlex.quote(self.hostname)}", *self._image_mounts()]
        # /tmp last: the node's directories live under this machine's /tmp, hidden once the node's /tmp is mounted.
        directories = sorted(self.node_dirs(), key=lambda d: d == "/tmp")
        late = [f"mount --bind {shlex.quote(str(self.path(d)))} {shlex.quote(d)}" for d in directories if d == "/tmp"]
        for directory in directories:
            if directory != "/tmp":
                lines.append(f"mount --bind {shlex.quote(str(self.path(directory)))} {shlex.quote(directory)}")
        lines.append(f"mount --bind {shlex.quote(str(self.path(HOSTS_FILE)))} /etc/hosts")
        lines.append(f"mount --bind {shlex.quote(str(self.path(SYSTEMCTL_FILE)))} /usr/bin/systemctl")
        for skip in self.image.skips:
            if skip.name.startswith("/") and not skip.is_file:
                stub = f"{CONTROL_DIR}/stubs{skip.name}"
                lines.append(f"mkdir -p {shlex.quote(os.path.dirname(skip.name))}")
                lines.append(f"[ -e {skip.name} ] || touch {skip.name}")
                lines.append(f"mount --bind {stub} {skip.name}")
        parents = sorted({os.path.dirname(p) for p in self.image.path_aliases})
        for index, parent in enumerate(parents):
            stage = shlex.quote(str(self.base / f"image-{index}"))
            lines += [
                f"mkdir -p {stage}",
                f"mount --bind {parent} {stage}",
                f"mount -t tmpfs -o mode=0755 tmpfs {parent}",
            ]
            for child in sorted(os.listdir(parent)):
                lines += [f"mkdir -p {parent}/{child}", f"mount --bind {stage}/{child} {parent}/{child}"]
            for alias, source in self.image.path_aliases.items():
                if os.path.dirname(alias) == parent:
                    inside = stage + source[len(parent) :] if source.startswith(parent + "/") else source
                    lines += [f"mkdir -p {alias}", f"mount --bind {inside} {alias}"]
        lines += [*late, "echo ready", "exec sleep infinity"]
        return "\n".join(lines)

    def _overlay(self, directory: str) -> Path:
        if directory not in self.image.overlays:
            raise BootError(f"{self.name}: {directory} is not an overlay of the image")
        return self.base / "overlay" / directory.strip("/").replace("/", "-")

    def standin(self, proc_path: str) -> Path:
        """The node's own file standing for a global /proc/sys setting (Image.proc_standins)."""
        return self.base / "proc" / proc_path.lstrip("/")

    def _image_mounts(self) -> list[str]:
        """Overlays first (the node's directories are bound over them), then the /proc/sys stand-ins."""
        lines = []
        for directory in self.image.overlays:
            base = self._overlay(directory)
            upper, work = shlex.quote(str(base / "upper")), shlex.quote(str(base / "work"))
            options = f"lowerdir={directory},upperdir={upper},workdir={work}"
            lines += [f"mkdir -p {upper} {work}", f"mount -t overlay cryb-sandbox -o {options} {directory}"]
        for proc_path, value in self.image.proc_standins.items():
            standin = shlex.quote(str(self.standin(proc_path)))
            lines += [
                f"mkdir -p {shlex.quote(str(self.standin(proc_path).parent))}",
                f"printf '%s\\n' {shlex.quote(value)} > {standin}",
                f"mount --bind {standin} {shlex.quote(proc_path)}",
            ]
        return lines

    def _apply_sysctl_d(self) -> None:
        """What systemd-sysctl does at boot, for the node's /etc/sysctl.d files whose every key has a stand-in
        (any other key would change this machine's kernel: such a file is noted, not applied)."""
        for conf in sorted(self.path("/etc/sysctl.d").glob("*.conf")) if self.image.proc_standins else []:
            keys = [line.split("=", 1)[0].strip() for line in conf.read_text().splitlines() if "=" in line]
            paths = ["/proc/sys/" + key.replace(".", "/") for key in keys if not key.startswith(("#", ";"))]
            if all(path in self.image.proc_standins for path in paths):
                self.run(["sysctl", "-p", f"/etc/sysctl.d/{conf.name}"])
            else:
                self.note(f"not applying /etc/sysctl.d/{conf.name}: it sets global kernel settings without stand-in")

    def _start_holder(self) -> None:
        assert self.netns is not None
        argv = ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--propagation", "private"]
        log = (self.base / "holder.log").open("ab")
        self.holder = subprocess.Popen(
            [*argv, "bash", "-c", self._mount_script()], stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != b"ready":
            raise BootError(f"{self.name}: mount namespace failed: {(self.base / 'holder.log').read_text()[-2000:]}")

    def _start_imds(self) -> None:
        assert self.netns is not None
        argv = [
            "ip", "netns", "exec", self.netns, sys.executable, "-m", "scripts.sandbox.imds",
            "--instance-id", self.instance_id, "--region", self.region,
            "--availability-zone", self.spec.availability_zone, "--instance-type", self.spec.instance_type,
            "--private-ip", self.spec.vpc_address,
        ]  # fmt: skip
        log = (self.base / "imds.log").open("ab")
        self.imds = subprocess.Popen(argv, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while "serving" not in (self.base / "imds.log").read_text():
            if time.monotonic() > deadline or self.imds.poll() is not None:
                raise BootError(f"{self.name}: IMDS stub did not start: {(self.base / 'imds.log').read_text()}")
            time.sleep(0.05)

    # -- processes -------------------------------------------------------------------------------------------
    def command(
        self, argv: Sequence[str], *, user: str = "root", group: str = "", env: dict[str, str] | None = None,
        private_tmp: bool = False, no_new_privileges: bool = False,
    ) -> list[str]:  # fmt: skip
        """argv that runs `argv` inside the node as `user`, with exactly `env`."""
        assert self.holder is not None, f"{self.name} is not running"
        full = ["nsenter", "-t", str(self.holder.pid), "-m", "-n", "-u", "--wd=/", "--"]
        if private_tmp:
            full += ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
            full += ['mount -t tmpfs -o mode=1777 tmpfs /tmp && exec "$@"', "sh"]
        if user != "root" or group or no_new_privileges:
            full += ["setpriv", "--reuid", user, "--regid", group or user, "--init-groups"]
            full += ["--no-new-privs"] if no_new_privileges else []
        environment = env if env is not None else {"PATH": NODE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        return [*full, "env", "-i", *(f"{k}={v}" for k, v in environment.items()), *argv]

    def spawn(
        self, argv: Sequence[str], *, user: str, group: str, env: dict[str, str], private_tmp: bool,
        no_new_privileges: bool, log: Path,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        full = self.command(
            argv, user=user, group=group, env=env, private_tmp=private_tmp, no_new_privileges=no_new_privileges
        )
        with log.open("ab") as handle:
            process = subprocess.Popen(full, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def run(
        self, argv: Sequence[str], *, user: str = "root", env: dict[str, str] | None = None, timeout: float = 120,
        check: bool = True, input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run a command inside the node (as an operator logged in on it would) and return its output."""
        if env is None and user != "root":
            home = pwd.getpwnam(user).pw_dir
            env = {"PATH": NODE_PATH, "HOME": home, "LANG": "C.UTF-8", "USER": user}
        result = subprocess.run(
            self.command(argv, user=user, env=env), capture_output=True, text=True, timeout=timeout, input=input
        )
        if check and result.returncode != 0:
            raise CommandError(self.name, list(argv), result)
        return result

    def pids(self) -> list[int]:
        """Every process in the node's network namespace (all of the node's processes, nested namespaces too)."""
        if self.netns is None:
            return []
        inode = os.stat(f"/var/run/netns/{self.netns}").st_ino
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                        found.append(int(entry))
                except OSError:
                    continue
        return found

    # -- lifecycle -------------------------------------------------------------------------------------------
    def boot(self, *, start_units: bool = True) -> float:
        """Boot the node; the first boot runs the user data's runcmd. Returns the seconds it took."""
        started = time.monotonic()
        first = not self.booted
        if self.netns is None:
            self.netns = self.network.add_node(self.spec.key, self.alias)
        if first:
            self.install()
        for directory in RESET_AT_BOOT:
            for entry in self.path(directory).iterdir():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        self._start_holder()
        self._start_imds()
        self.services = ServiceManager(self, self.image, hold=not start_units, activated=self.services.activated)
        self.services.serve()
        for note in self.image.notes():
            self.note(note)
        self.booted = True
        # What systemd-tmpfiles-setup does at every boot, limited to the node's own /run and /tmp (the image's
        # packages' rules, e.g. /run/postgresql, and the rendered ones): the rest of the tree is this machine's.
        self.run(["systemd-tmpfiles", "--create", "--boot", *(f"--prefix={d}" for d in RESET_AT_BOOT)])
        if first:
            for argv in self.config.runcmd:
                self._runcmd(argv)
        else:
            self._apply_sysctl_d()
            self.services.boot()
        self.note(f"booted in {time.monotonic() - started:.1f} s (skipped: {', '.join(self.skipped()) or 'nothing'})")
        return time.monotonic() - started

    def _runcmd(self, argv: Sequence[str]) -> None:
        with self.console.open("ab") as console:
            console.write(f"$ {shlex.join(argv)}\n".encode())
            console.flush()
            result = subprocess.run(self.command(argv), stdout=console, stderr=subprocess.STDOUT, timeout=BOOT_TIMEOUT)
        if result.returncode != 0:
            tail = self.console.read_text()[-3000:]
            raise BootError(f"{self.name}: runcmd {shlex.join(argv)} exited {result.returncode}:\n{tail}")

    def skipped(self) -> list[str]:
        """What was skipped by name on this node so far (commands from the stubs' log, units from the runner)."""
        log = self.path(f"{CONTROL_DIR}/skipped.log")
        commands = [line.split(" ", 1)[0] for line in log.read_text().splitlines()] if log.exists() else []
        units = [n.split(" ", 2)[2].split(":", 1)[0] for n in self.notes if n.startswith("skipped unit ")]
        return sorted(set(commands + units))

    def used_files(self) -> set[str]:
        """Written files the node has used: units the runner activated, other files read or changed since install."""
        used = set()
        activated = self.services.activated
        for path, before in self.installed.items():
            target = self.path(path)
            if path.startswith("/etc/systemd/system/"):
                name = os.path.basename(path)
                templates = {found[0] for a in activated if (found := template_of(a))}
                if name in activated or name in templates:
                    used.add(path)
                continue
            if not target.exists():
                used.add(path)  # consumed and removed
                continue
            now = target.stat()
            if now.st_atime_ns > before.st_atime_ns or now.st_mtime_ns != before.st_mtime_ns:
                used.add(path)
        return used

    def kill(self) -> None:
        """kill -9 every process of the node, as a machine that dies; the namespaces' mounts go with them."""
        self.services.halt()
        deadline = time.monotonic() + 15
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for process in [*self.processes, *(p for p in (self.holder, self.imds) if p)]:
                process.poll()
            time.sleep(0.05)
        for process in [*self.processes, *(p for p in (self.holder, self.imds) if p)]:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()
        self.holder = self.imds = None

    def replace(self) -> None:
        """kill -9 and lose every disk: the next boot is a new instance's first boot at the same address, as an
        Auto Scaling group's replacement with the node's stable interface."""
        self.kill()
        shutil.rmtree(self.root)
        self.booted = False
        self.installed = {}
        self.instance_id = "i-" + secrets.token_hex(8) + "0"

    def running(self) -> bool:
        return self.holder is not None and self.holder.poll() is None
