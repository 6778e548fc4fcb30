"""What the sandbox's "image" is, and the one list of steps it skips.

The image is this machine's Debian with the node's packages installed (.ci/setup.sh), so a node boots as on a
*baked* image: the marker the rendered setup script checks (`/etc/cryb-db/packages-baked`) is present and apt
never runs. What the image adds, each said out loud when a node boots:

* `path_aliases`: a path the rendered files name, served by another one of this machine (PostgreSQL 17's
  /usr/lib/postgresql/17 by Debian 12's 15: the prod analytics cluster renders 17, this machine has 15);
* `markers`: files the image carries (the baked-packages marker);
* the node's data directory is already a mount point, so the NVMe step (mdadm, mkfs.xfs, mount) skips itself;
* the sandbox CA in the node's trust store and the AWS endpoint names in its /etc/hosts (cluster.py);
* `overlays`: directories of this machine a node sees through a writable overlay of its own (its writes stay in
  the node: the rendered `useradd` adds its user to the node's /etc/passwd, not to this machine's);
* `links`: programs the rendered files name that this machine has under another name, linked inside each node only
  (in the upper layer of the overlay of their directory): Valkey's `/usr/bin/valkey-server` is Redis 7's
  `redis-server` (scripts/sandbox/cache.py);
* `proc_standins`: kernel settings that are global to this machine (`vm.overcommit_memory`): each node gets a file
  of its own bound over the /proc/sys path, holding the kernel's default at every boot, so the rendered
  `sysctl -p` really runs and the node's programs read what it set, while this machine's setting never changes.

SKIPS is the only list of what does not run. A skipped command is replaced, inside the node only, by a stub that
prints `cryb-sandbox: skipped <name>: <reason>` and records it; a skipped unit is reported started. Commands that
must never run here are stubbed to fail loudly, should the script reach them despite the image.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Skip:
    name: str
    """A command name (resolved through PATH), an absolute path, or a unit name."""
    reason: str
    exit_status: int = 0
    """What the stub returns: 0 where the script carries on, non-zero where the script has a fallback for it."""

    @property
    def is_unit(self) -> bool:
        return self.name.endswith((".service", ".timer"))

    @property
    def is_file(self) -> bool:
        """A rendered file that only a skipped program reads: nothing to stub."""
        return self.name.endswith((".json", ".conf", ".yml", ".yaml"))


ENI_REASON = (
    "attaches the stable network interface (EC2 API) and changes routes with ip; "
    "the sandbox network gives the node its address"
)
MUST_NOT_RUN = (
    "must not run in the sandbox (the image is baked and /data is a mount point, so the script skips this step)"
)

SKIPS: tuple[Skip, ...] = (
    Skip("/usr/local/sbin/cryb-node-address", ENI_REASON),
    Skip("cryb-node-address.service", ENI_REASON),
    Skip("modprobe", "loading a kernel module (softdog) would change this machine's kernel: no watchdog", 1),
    Skip("udevadm", "udev of this machine, for the watchdog device"),
    Skip(
        "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl",
        "the CloudWatch agent is not installable here (its config is checked as text)",
    ),
    Skip(
        "/opt/aws/amazon-cloudwatch-agent/etc/cryb-pg.json",
        "read only by the CloudWatch agent, which is not installable here (its content is checked as text)",
    ),
    Skip("apt-get", MUST_NOT_RUN, 100),
    Skip("dpkg", MUST_NOT_RUN, 100),
    Skip("mdadm", MUST_NOT_RUN, 100),
    Skip("mkfs.xfs", MUST_NOT_RUN, 100),
    Skip("dnf", "installs packages from the Amazon Linux repositories: the image carries them (Image.links)"),
    Skip(
        "/opt/aws/amazon-cloudwatch-agent/etc/cryb-cache.json",
        "read only by the CloudWatch agent, which is not installable here (its content is checked as text)",
    ),
)  # fmt: skip

BAKED_MARKER = "/etc/cryb-db/packages-baked"


@dataclass(frozen=True)
class Image:
    path_aliases: Mapping[str, str] = field(default_factory=dict)
    """Path inside the node -> directory of this machine that serves it."""
    markers: tuple[str, ...] = (BAKED_MARKER,)
    skips: tuple[Skip, ...] = SKIPS
    overlays: tuple[str, ...] = ()
    """Directories of this machine each node sees through a writable overlay of its own."""
    links: Mapping[str, str] = field(default_factory=dict)
    """Program path inside the node -> this machine's program it runs (a symlink in the node's overlay)."""
    proc_standins: Mapping[str, str] = field(default_factory=dict)
    """/proc/sys path -> the value its node-private stand-in holds at every boot (the kernel's default)."""

    @classmethod
    def debian_host(cls, postgres_majors: Mapping[str, str] | None = None) -> Image:
        """This machine; `postgres_majors` maps a rendered major to the installed one ({"17": "15"})."""
        aliases = {
            f"/usr/lib/postgresql/{rendered}": f"/usr/lib/postgresql/{installed}"
            for rendered, installed in (postgres_majors or {}).items()
            if rendered != installed
        }
        return cls(path_aliases=aliases)

    def notes(self) -> list[str]:
        lines = [f"image: {path} is served by this machine's {source}" for path, source in self.path_aliases.items()]
        lines += [f"image: carries {marker} (packages baked: apt does not run)" for marker in self.markers]
        lines += [f"image: {path} is seen through an overlay of the node's own" for path in self.overlays]
        lines += [f"image: {path} is this machine's {program}" for path, program in self.links.items()]
        lines += [
            f"image: {path} is a stand-in of the node's own (at boot: {value}); this machine's is never written"
            for path, value in self.proc_standins.items()
        ]
        return lines

    def skip_for(self, name: str) -> Skip | None:
        return next((s for s in self.skips if s.name == name), None)


def stub_script(skip: Skip) -> str:
    """The stub standing for a skipped command inside a node (plain sh)."""
    message = shlex.quote(f"cryb-sandbox: skipped {skip.name}: {skip.reason}")
    return (
        "#!/bin/sh\n"
        f"echo {message} >&2\n"
        f'echo {shlex.quote(skip.name)} "$*" >> /var/lib/cryb-sandbox/skipped.log\n'
        f"exit {skip.exit_status}\n"
    )
