"""The process plumbing every loopback server helper uses: the operator CLI's (moto for `local up`, the benches)
and the tests' (tests/servers: PostgreSQL, PgBouncer, Redis, Patroni; fixtures in ``tests.servers.fixtures``):

* ``ManagedProcess`` runs a server in its own session/process group, logs to
  a file, and stops it with signal -> SIGKILL escalation, so nothing outlives
  a test, even when the test fails.
* Every started process is also tracked in a module-level registry that an
  ``atexit`` hook drains, and gets a parent-death signal, so even a crashed or
  killed pytest does not leave servers running.
* ``ServiceUser`` / ``make_workdir`` let root drop privileges: PostgreSQL and
  PgBouncer refuse to run as root, and running Redis as root is a bad habit.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ManagedProcess",
    "ServerStartError",
    "ServiceUser",
    "chown_tree",
    "make_workdir",
    "remove_workdir",
    "run_as",
    "service_user",
    "wait_until",
]

#: Short base for work dirs: unix socket paths must stay under ~107 bytes and
#: the directory must be traversable by the unprivileged service user (pytest's
#: own tmp dirs live under a 0700 root-owned directory, so they are not).
WORK_BASE = Path("/tmp")

_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """A server did not become ready; carries the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- server log (tail) ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class ServiceUser:
    """An OS account to run a server as (``None`` means: the current user)."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that make ``subprocess`` drop to this user.

        ``extra_groups=[]`` clears root's supplementary groups as well.
        """
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def service_user(name: str) -> ServiceUser | None:
    """Return the account to run servers as.

    As root we switch to ``name`` (e.g. ``postgres``, created by the Debian
    package); as an ordinary user we simply run as ourselves.
    """
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise RuntimeError(
            f"running as root but OS user {name!r} does not exist; "
            "install the Debian package that creates it or add the user"
        ) from exc
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def chown_tree(path: Path, user: ServiceUser | None) -> None:
    """Give ``path`` (recursively) to ``user``; no-op when not switching user."""
    if user is None:
        return
    os.chown(path, user.uid, user.gid)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)


def make_workdir(prefix: str, user: ServiceUser | None) -> Path:
    """Create a private (0700) work dir under ``/tmp`` owned by ``user``."""
    base = WORK_BASE if WORK_BASE.is_dir() else Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    chown_tree(path, user)
    return path


def remove_workdir(path: Path) -> None:
    """Delete a work dir, tolerating files that vanish concurrently."""
    shutil.rmtree(path, ignore_errors=True)


def _service_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A small, predictable environment (no inherited PG*/REDIS*/AWS* vars)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(home),
        "TZ": "UTC",
    }
    if extra:
        env.update(extra)
    return env


def run_as(
    user: ServiceUser | None,
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run a one-shot command (initdb, pg_ctl, ...) as ``user``; raise on failure."""
    kwargs = user.popen_kwargs() if user else {}
    result = subprocess.run(
        [os.fspath(a) for a in argv],
        cwd=cwd,
        env=_service_env(cwd, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        start_new_session=True,
        **kwargs,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"command failed (rc={result.returncode}): {' '.join(map(str, argv))}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def _make_pdeathsig(sig: int) -> Callable[[], None]:
    """Return a preexec hook so the kernel signals the child if pytest dies.

    It runs after subprocess has switched uid, so the setting survives the
    credential change.  (The signal fires when the *spawning thread* exits;
    fixtures run on pytest's main thread, so that is the process lifetime.)
    """

    def _hook() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        except (OSError, AttributeError):  # non-Linux: best effort only
            pass

    return _hook


_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


class ManagedProcess:
    """A long-running server process in its own process group.

    ``stop`` sends ``stop_signal`` to the whole group, waits, then SIGKILLs the
    group; stragglers (e.g. PostgreSQL backends) are killed *before* the
    leader is reaped so the group id cannot have been recycled.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        log_path: Path,
        cwd: Path,
        user: ServiceUser | None = None,
        env: Mapping[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
        death_signal: int = signal.SIGKILL,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(a) for a in argv]
        self.log_path = log_path
        self.stop_signal = stop_signal
        kwargs = user.popen_kwargs() if user else {}
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=_service_env(cwd, env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_make_pdeathsig(death_signal),
                **kwargs,
            )
        self.pid = self.popen.pid
        with _LIVE_LOCK:
            _LIVE.add(self)

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid} rc={self.popen.returncode}>"

    def running(self) -> bool:
        """True while the leader process has not exited."""
        return self.popen.poll() is None

    def log_tail(self, max_chars: int = 4000) -> str:
        """The last ``max_chars`` of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-max_chars:]

    def _leader_exited(self) -> bool:
        """Has the leader exited?  Uses WNOWAIT so it stays un-reaped (pid pinned)."""
        if self.popen.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _killpg(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._leader_exited():
                return True
            time.sleep(0.02)
        return self._leader_exited()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the leader only (e.g. SIGHUP to reload config)."""
        if self.popen.returncode is None:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 10.0, sig: int | None = None) -> int | None:
        """Stop the process group; always returns with nothing left running."""
        try:
            if self.popen.returncode is None:
                if not self._leader_exited():
                    self._killpg(self.stop_signal if sig is None else sig)
                    if not self._wait_exit(timeout):
                        self._killpg(signal.SIGKILL)
                        self._wait_exit(5.0)
                # Leader is a zombie or gone: its pgid cannot be reused yet, so
                # SIGKILL any children that outlived it, then reap.
                self._killpg(signal.SIGKILL)
                try:
                    self.popen.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass
            return self.popen.returncode
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def kill(self) -> None:
        """Crash the server (SIGKILL to the group), e.g. for failover drills."""
        self.stop(timeout=5.0, sig=signal.SIGKILL)


def _stop_all_live() -> None:
    """atexit safety net for processes whose fixture never got to finalize."""
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for proc in leftovers:
        proc.stop(timeout=3.0)


atexit.register(_stop_all_live)


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: ManagedProcess | None = None,
    interval: float = 0.05,
) -> None:
    """Poll ``check`` until it returns True; fail fast if ``process`` died.

    Exceptions from ``check`` count as "not ready yet"; the last one is
    reported on timeout so the failure says *why* the server is not ready.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if process is not None and not process.running():
            raise ServerStartError(
                f"{what}: process exited with rc={process.popen.returncode} before becoming ready",
                process.log_tail(),
            )
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise ServerStartError(
                f"{what}: not ready after {timeout:.1f}s{detail}",
                process.log_tail() if process else "",
            )
        time.sleep(interval)
