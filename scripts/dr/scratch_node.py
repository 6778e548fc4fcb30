"""The scratch node of a Patroni drill: a pgBackRest point-in-time restore of a cluster's repository into a private
directory on the drill host, started as a throw-away PostgreSQL that listens on a private socket only, and removed
with everything it wrote.

The repository config is the one the cluster's nodes render (components/selfhosted/pgbackrest_config.py), with the
scratch node's own paths. Secrets never touch the disk: the cipher passphrase and the S3 credentials reach pgBackRest
(and the `archive-get` PostgreSQL runs as its restore_command) as `PGBACKREST_*` environment variables.

The host needs pgBackRest and the cluster's PostgreSQL major (its binaries in `pg_bin`, the preloaded extensions),
and read access to the backup bucket and its key: an operator instance in the VPC, or a scratch EC2 node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from components.selfhosted.pgbackrest_config import PgBackRestInputs, S3Repo, render_pgbackrest_conf

if TYPE_CHECKING:
    import psycopg

    from .planning import PatroniTarget


class ScratchError(RuntimeError):
    """A step of the scratch restore failed; the message carries the tool's output."""


@dataclass(frozen=True)
class RepoAccess:
    """How the drill host reaches the repository (default: the Region's S3 endpoint with TLS verified)."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    """host[:port]; None: s3.<region>.amazonaws.com."""
    uri_style: Literal["host", "path"] = "host"
    ca_file: str | None = None


def target_literal(target: datetime) -> str:
    """A recovery target time pgBackRest and PostgreSQL both parse (UTC, microseconds, `+00`)."""
    return target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def scratch_settings(port: int, socket_dir: Path, hba_file: Path) -> dict[str, str]:
    """What the scratch server overrides of the restored configuration: nothing of the source node's network, TLS
    files, archiving, synchronous standbys or log directory applies here."""
    return {
        "port": str(port),
        "listen_addresses": "",
        "unix_socket_directories": str(socket_dir),
        "hba_file": str(hba_file),
        "ssl": "off",
        "archive_mode": "off",
        "synchronous_standby_names": "",
        "logging_collector": "off",
        "cluster_name": "cryb-dr-scratch",
    }


class ScratchNode:
    """One restore of one cluster; `close()` stops the server and deletes the directory, whatever happened."""

    def __init__(
        self,
        target: PatroniTarget,
        *,
        passphrase: str,
        access: RepoAccess,
        pg_bin: Path,
        port: int,
        os_user: str = "postgres",
        work_root: Path | None = None,
    ) -> None:
        self.target, self.pg_bin, self.port, self.os_user = target, pg_bin, port, os_user
        self.work = Path(tempfile.mkdtemp(prefix=f"cryb-dr-{target.stanza}-", dir=work_root))
        self.data_dir, self.socket_dir = self.work / "data", self.work / "socket"
        self.config_path = self.work / "pgbackrest"
        self.started = False
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PGBACKREST_", "PG"))},
            "PGBACKREST_REPO1_CIPHER_PASS": passphrase,
            "PGBACKREST_REPO1_S3_KEY": access.access_key,
            "PGBACKREST_REPO1_S3_KEY_SECRET": access.secret_key,
        }
        if access.session_token:
            self._env["PGBACKREST_REPO1_S3_TOKEN"] = access.session_token
        for directory in (
            self.config_path,
            self.socket_dir,
            self.work / "spool",
            self.work / "log",
            self.work / "lock",
        ):
            directory.mkdir(mode=0o700, parents=True)
        inputs = PgBackRestInputs(
            stanza=target.stanza,
            repo=S3Repo(
                bucket=target.bucket,
                region=target.region,
                kms_key_arn=target.kms_key_arn,
                prefix=target.prefix,
                endpoint=access.endpoint,
                uri_style=access.uri_style,
                key_type="shared",
                ca_file=access.ca_file,
            ),
            pg_data_dir=str(self.data_dir),
            pg_port=port,
            pg_socket_dir=str(self.socket_dir),
            spool_path=str(self.work / "spool"),
            log_path=str(self.work / "log"),
            lock_path=str(self.work / "lock"),
        )
        (self.config_path / "pgbackrest.conf").write_text(render_pgbackrest_conf(inputs))
        # Only this host's drill process can reach the socket (0700 directory); no network listener.
        self.hba_file = self.work / "pg_hba.conf"
        self.hba_file.write_text("local all all trust\n")
        self._chown()

    def _chown(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.work, self.os_user, self.os_user)
            for path in self.work.rglob("*"):
                shutil.chown(path, self.os_user, self.os_user)

    def _run(self, argv: list[str], timeout: float) -> str:
        command = ["runuser", "-u", self.os_user, "--", *argv] if os.geteuid() == 0 else argv
        result = subprocess.run(command, capture_output=True, text=True, env=self._env, timeout=timeout)
        if result.returncode != 0:
            raise ScratchError(f"{' '.join(argv[:3])} exited {result.returncode}: {result.stderr.strip()[-1500:]}")
        return result.stdout

    def restore(self, target_time: datetime, timeout: float = 3600) -> None:
        """pgBackRest restore of the newest backup before `target_time`, recovering to it, then promoting."""
        self._run(
            [
                "pgbackrest",
                f"--config-path={self.config_path}",
                f"--stanza={self.target.stanza}",
                "--type=time",
                f"--target={target_literal(target_time)}",
                "--target-action=promote",
                "--archive-mode=off",
                "restore",
            ],
            timeout,
        )

    def start(self, timeout: float = 600) -> None:
        options = " ".join(
            f"-c {k}='{v}'" for k, v in scratch_settings(self.port, self.socket_dir, self.hba_file).items()
        )
        pg_ctl = [str(self.pg_bin / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.work / "postgresql.log")]
        self.started = True
        try:
            self._run([*pg_ctl, "-o", options, "-w", "-t", str(int(timeout)), "start"], timeout + 10)
        except ScratchError as exc:
            raise ScratchError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, chars: int = 2000) -> str:
        log = self.work / "postgresql.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def connect(self, database: str) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=self.os_user, dbname=database, autocommit=True,
            application_name="cryb-dr-drill", connect_timeout=10,
        )  # fmt: skip

    def wait_promoted(self, database: str, timeout: float = 600) -> None:
        """Recovery replays WAL to the target, then promotes (pg_is_in_recovery() turns false)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(database) as conn:
                    row = conn.execute("select pg_is_in_recovery()").fetchone()
                    if row == (False,):
                        return
            except Exception as exc:  # noqa: BLE001 - still starting: retried until the deadline
                last = exc
            else:
                last = None
            if time.monotonic() > deadline:
                raise ScratchError(f"not promoted after {timeout:g} s ({last}):\n{self.log_tail()}")
            time.sleep(0.2)

    def close(self) -> str:
        """Stop the server (immediately: it is thrown away) and delete the directory; what was done."""
        if self.started and (self.data_dir / "postmaster.pid").exists():
            try:
                self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"], 60)
            except (ScratchError, subprocess.TimeoutExpired) as exc:
                return f"FAILED: {exc} (directory {self.work} left)"
        shutil.rmtree(self.work, ignore_errors=True)
        return "deleted" if not self.work.exists() else f"FAILED: {self.work} left"
