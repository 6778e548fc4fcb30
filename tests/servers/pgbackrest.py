"""A real point-in-time-recovery drill with pgBackRest, from the pgbackrest.conf the component renders.

The test (tests/real/test_pgbackrest_pitr.py) and the benchmark (scripts/bench/pitr.py) share this code.

``production_inputs(...)`` builds ``PgBackRestInputs`` exactly as ``SelfHostedCluster`` does for a node
(components/selfhosted/component.py); ``loopback_inputs(...)`` then substitutes only what one machine forces:

* paths (data dir, socket dir, spool, log and lock) and the PostgreSQL port of the local server;
* the S3 endpoint (moto over TLS on ``localhost:<port>``), path-style URIs (no ``<bucket>.localhost`` DNS), the
  CA that verifies it (TLS verification stays on), and static keys (``shared``) instead of the instance profile:
  the keys go to ``conf.d/`` beside the cipher passphrase, as the node writes its secrets there at boot;
* or, as an extra case, a posix repository instead of the bucket.

The text itself always comes from ``render_pgbackrest_conf``; PostgreSQL archives with the component's
``archive_command`` and backups run the component's ``backup_command``. pgBackRest runs as the server's OS user
(``postgres`` when we are root) with its config, spool, log and lock paths in that user's work dirs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shlex
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg

from components.config.selfhosted import SelfHostedClusterConfig
from components.selfhosted.patroni_config import ARCHIVE_TIMEOUT_SECONDS, POSTGRES_PORT
from components.selfhosted.pgbackrest_config import (
    PgBackRestInputs,
    PosixRepo,
    S3Repo,
    archive_command,
    backup_command,
    render_cipher_include,
    render_pgbackrest_conf,
)
from components.selfhosted.pgbackrest_node import node_pgbackrest_inputs
from scripts.servers.ports import free_port
from scripts.servers.process import ServiceUser, chown_tree, make_workdir, remove_workdir, run_as, wait_until

from .postgres import PostgresFactory, PostgresServer

CLUSTER = "analytics"
REGION = "us-east-1"
BUCKET = "cryb-drill-backups"
PROD_RETENTION_FULL_DAYS = SelfHostedClusterConfig.model_fields["backup_retention_days"].default

#: Fields of PgBackRestInputs that loopback_inputs may change; everything else is the component's.
SUBSTITUTED = frozenset({"pg_data_dir", "pg_port", "pg_socket_dir", "spool_path", "log_path", "lock_path"})
#: Fields of S3Repo that loopback_inputs may change (a posix repository replaces the whole `repo`).
S3_SUBSTITUTED = frozenset({"endpoint", "uri_style", "key_type", "ca_file"})

#: Steps of one drill, in order (for progress bars).
STEPS = (
    "start primary",
    "stanza-create + check",
    "load data",
    "full backup",
    "write + pick target",
    "archive last segment",
    "restore",
    "recover + promote",
    "verify",
)

# 192 hex characters of random md5s per row: compresses about 2:1, like real data.
_INSERT_BULK = (
    "insert into bulk select g, md5(random()::text) || md5(random()::text) || md5(random()::text)"
    " || md5(random()::text) || md5(random()::text) || md5(random()::text)"
    " from generate_series(%s::bigint, %s::bigint) g"
)
# Bytes per generated row (bigint + 192 hex chars, tuple overhead, its primary-key entry), measured.
_BYTES_PER_ROW = 263


def production_inputs(
    *, cluster: str = CLUSTER, bucket: str, region: str = REGION, kms_key_arn: str, pg_port: int = POSTGRES_PORT
) -> PgBackRestInputs:
    """A node's inputs as SelfHostedCluster renders them: the component's own function (components/selfhosted/
    pgbackrest_node.py) with the cluster config's default retention; the stanza is the cluster (Patroni's scope).
    tests/components/selfhosted/test_component.py compares its text with the prod stack's rendered user data."""
    return node_pgbackrest_inputs(
        cluster=cluster,
        stanza=cluster,
        bucket=bucket,
        region=region,
        kms_key_arn=kms_key_arn,
        pg_port=pg_port,
        retention_full_days=PROD_RETENTION_FULL_DAYS,
    )


@dataclass(frozen=True)
class S3Target:
    """The loopback S3 (moto over TLS): where it is, the CA that verifies it, the bucket and its key."""

    endpoint: str  # host:port
    ca_file: Path
    bucket: str
    kms_key_arn: str
    client: Any = field(repr=False)  # a boto3 S3 client for the same server (CA verified)
    access_key: str = "testing"
    secret_key: str = field(default="testing", repr=False)


@dataclass(frozen=True)
class PosixTarget:
    path: Path


RepoTarget = S3Target | PosixTarget


def loopback_inputs(
    production: PgBackRestInputs, *, server: PostgresServer, node_dir: Path, target: RepoTarget
) -> PgBackRestInputs:
    """`production` with only the loopback substitutions (module doc); the config file lives in node_dir."""
    repo: S3Repo | PosixRepo
    if isinstance(target, PosixTarget):
        repo = PosixRepo(str(target.path))
    else:
        assert isinstance(production.repo, S3Repo)
        repo = dataclasses.replace(
            production.repo,
            endpoint=target.endpoint,
            uri_style="path",
            key_type="shared",
            ca_file=str(node_dir / "pgbackrest" / "ca.pem"),
        )
    return dataclasses.replace(
        production,
        repo=repo,
        pg_data_dir=str(server.info.data_dir),
        pg_port=server.info.port,
        pg_socket_dir=str(server.info.socket_dir),
        spool_path=str(node_dir / "pgbackrest-spool"),
        log_path=str(node_dir / "pgbackrest-log"),
        lock_path=str(node_dir / "pgbackrest-lock"),
    )


class PgBackRestNode:
    """pgBackRest on one node: ``<node_dir>/pgbackrest/pgbackrest.conf`` (rendered) and ``conf.d/`` (secrets)."""

    def __init__(
        self,
        node_dir: Path,
        inputs: PgBackRestInputs,
        os_user: ServiceUser | None,
        *,
        passphrase: str,
        target: RepoTarget,
        pgpass: str,
    ) -> None:
        self.node_dir = node_dir
        self.inputs = inputs
        self.os_user = os_user
        self.config_path = node_dir / "pgbackrest"
        self.pgpass_file = node_dir / "pgpass"
        self.conf_text = render_pgbackrest_conf(inputs)
        self._write(passphrase, target, pgpass)

    def _write(self, passphrase: str, target: RepoTarget, pgpass: str) -> None:
        conf_d = self.config_path / "conf.d"
        conf_d.mkdir(parents=True, mode=0o750)
        for path in (self.inputs.spool_path, self.inputs.log_path, self.inputs.lock_path):
            Path(path).mkdir(mode=0o750, exist_ok=True)
        (self.config_path / "pgbackrest.conf").write_text(self.conf_text)
        secret_files = {"cipher.conf": render_cipher_include(passphrase)}
        if isinstance(target, S3Target):
            # What the instance profile provides on EC2 (key_type=auto), as static keys for moto.
            secret_files["s3-credentials.conf"] = (
                f"[global]\nrepo1-s3-key={target.access_key}\nrepo1-s3-key-secret={target.secret_key}\n"
            )
            shutil.copyfile(target.ca_file, self.config_path / "ca.pem")
        for name, text in secret_files.items():
            path = conf_d / name
            path.touch(mode=0o600)
            path.write_text(text)
        self.pgpass_file.touch(mode=0o600)
        self.pgpass_file.write_text(pgpass)
        chown_tree(self.node_dir, self.os_user)

    @property
    def stanza(self) -> str:
        return self.inputs.stanza

    def archive_command(self) -> str:
        """The component's archive_command for this node's config path."""
        return archive_command(str(self.config_path), self.stanza)

    def run(self, *args: str, timeout: float = 120.0) -> str:
        """``pgbackrest --config-path=... --stanza=... <args>`` as the server's OS user; stdout (raises on failure;
        pgBackRest redacts the passphrase and keys in what it prints)."""
        argv = ["pgbackrest", f"--config-path={self.config_path}", f"--stanza={self.stanza}", *args]
        return self.run_argv(argv, timeout=timeout)

    def run_argv(self, argv: list[str], timeout: float = 120.0) -> str:
        result = run_as(
            self.os_user, argv, cwd=self.node_dir, env={"PGPASSFILE": str(self.pgpass_file)}, timeout=timeout
        )
        return result.stdout

    def backup(self, kind: Literal["full", "diff", "incr"] = "full", timeout: float = 900.0) -> str:
        """The component's backup_command (the node's systemd timer runs the same line)."""
        command = backup_command(str(self.config_path), self.stanza, kind)
        return self.run_argv(shlex.split(command), timeout=timeout)

    def info(self) -> dict[str, Any]:
        (stanza,) = json.loads(self.run("--output=json", "info"))
        return stanza

    def archive_id(self) -> str:
        """The current archive id, e.g. ``15-1``."""
        return str(self.info()["archive"][-1]["id"])


def segment_in_repo(target: RepoTarget, inputs: PgBackRestInputs, archive_id: str, segment: str) -> bool:
    """Is WAL segment `segment` in the repository (looked up directly in the bucket or directory)?"""
    relative = f"archive/{inputs.stanza}/{archive_id}/{segment[:16]}/{segment}-"
    if isinstance(target, PosixTarget):
        return any((target.path / relative).parent.glob(f"{segment}-*"))
    assert isinstance(inputs.repo, S3Repo)
    listed = target.client.list_objects_v2(Bucket=target.bucket, Prefix=f"{inputs.repo.prefix}/{relative}")
    return bool(listed.get("KeyCount"))


def repo_objects(target: S3Target, prefix: str) -> list[str]:
    """Every key under the cluster's prefix of the bucket."""
    keys: list[str] = []
    for page in target.client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


# -- the writer -------------------------------------------------------------------------------------------------------


@dataclass
class Commit:
    n: int
    sent: float  # wall clock (time.time()) just before COMMIT was sent
    acknowledged: float  # wall clock when the commit returned


class CommitWriter(threading.Thread):
    """Commits one numbered row per transaction and records when each commit was sent and acknowledged."""

    def __init__(self, dsn: str) -> None:
        super().__init__(name="pitr-writer", daemon=True)
        self.dsn = dsn
        self.commits: list[Commit] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, connect_timeout=5) as conn:
                n = 0
                while not self._halt.is_set():
                    n += 1
                    conn.execute("insert into pitr_commits (n) values (%s)", (n,))
                    sent = time.time()
                    conn.commit()
                    self.commits.append(Commit(n, sent, time.time()))
                    time.sleep(0.002)  # a busy but not saturating client
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def stop(self) -> list[Commit]:
        self._halt.set()
        self.join(timeout=30)
        if self.error is not None:
            raise RuntimeError(f"the writer failed: {self.error!r}") from self.error
        return self.commits


# -- the drill --------------------------------------------------------------------------------------------------------


@dataclass
class PitrResult:
    """What one drill measured and found."""

    repo_type: str
    database_mb: float
    bulk_rows: int
    backup_seconds: float
    restore_seconds: float
    recovery_seconds: float  # start of the restored server until it is read-write
    rto_seconds: float  # restore start until the restored server answers as a primary
    archive_lag_seconds: float  # last commit acknowledged -> its segment in the repository (after the WAL switch)
    archive_timeout_seconds: int
    target: datetime
    committed_before: int  # rows whose commit time (server) is <= target
    committed_after: int
    lost: list[int]  # committed before the target, missing from the restore
    extra: list[int]  # committed after the target, present in the restore
    client_lost: list[int]  # acknowledged before the target (client clock), missing
    client_extra: list[int]  # COMMIT sent after the target (client clock), present
    bulk_rows_restored: int
    restore_command: str  # what pgBackRest wrote into postgresql.auto.conf
    production: PgBackRestInputs = field(repr=False)  # what the component renders for a node
    nodes: tuple[PgBackRestNode, PgBackRestNode] = field(repr=False)  # the primary's and the restored node's
    restored: PostgresServer = field(repr=False)

    @property
    def rows_checked(self) -> int:
        return self.committed_before + self.committed_after

    @property
    def rpo_bound_seconds(self) -> float:
        """Worst case with no forced switch: a segment waits up to archive_timeout, then the push lag."""
        return self.archive_timeout_seconds + self.archive_lag_seconds


def target_literal(target: datetime) -> str:
    """A recovery target time pgBackRest and PostgreSQL both parse, in UTC with microseconds."""
    return target.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _primary_settings(node: PgBackRestNode) -> dict[str, str | int | bool]:
    return {
        "archive_mode": True,
        "archive_command": node.archive_command(),
        "archive_timeout": ARCHIVE_TIMEOUT_SECONDS,  # as patroni_config renders it
        "synchronous_commit": "on",  # as patroni_config renders it
        "track_commit_timestamp": True,  # the drill's own: each row's exact commit time, to judge the target
        "max_wal_size": "2GB",
        "shared_buffers": "128MB",
    }


def _node_dir(server: PostgresServer) -> Path:
    return server.workdir


def _pgpass(server: PostgresServer) -> str:
    info = server.info
    return f"*:{info.port}:*:{info.user}:{info.password}\n"


def _load(server: PostgresServer, size_mb: int, on_fraction: Callable[[float], None] | None) -> int:
    rows = max(1000, size_mb * 1024 * 1024 // _BYTES_PER_ROW)
    chunks = max(1, min(20, size_mb // 10))
    per_chunk = -(-rows // chunks)
    server.execute("create table bulk (id bigint primary key, payload text not null)")
    for i in range(chunks):
        first, last = i * per_chunk + 1, min(rows, (i + 1) * per_chunk)
        server.execute(_INSERT_BULK, (first, last))
        if on_fraction:
            on_fraction((i + 1) / chunks)
    server.execute("analyze bulk")
    return rows


def run_pitr_drill(
    factory: PostgresFactory,
    target: RepoTarget,
    *,
    size_mb: int = 40,
    before_seconds: float = 1.5,
    after_seconds: float = 1.5,
    on_step: Callable[[str], None] | None = None,
    on_load: Callable[[float], None] | None = None,
) -> PitrResult:
    """Back up a primary, write while a target time passes, restore to it into a new data dir, verify.

    The restored server is registered with `factory` (stopped and deleted with it) and returned in the result.
    """
    step = on_step or (lambda _name: None)
    passphrase = secrets.token_urlsafe(32)
    kms_key_arn = target.kms_key_arn if isinstance(target, S3Target) else "arn:aws:kms:us-east-1:000000000000:key/x"
    bucket = target.bucket if isinstance(target, S3Target) else BUCKET

    # The primary, archiving through the component's archive_command into the rendered repository.
    step(STEPS[0])
    primary = factory.create(name="pitr-primary", start=False)
    production = production_inputs(bucket=bucket, kms_key_arn=kms_key_arn)
    node = PgBackRestNode(
        _node_dir(primary),
        loopback_inputs(production, server=primary, node_dir=_node_dir(primary), target=target),
        factory.os_user,
        passphrase=passphrase,
        target=target,
        pgpass=_pgpass(primary),
    )
    primary.settings.update(_primary_settings(node))
    primary.start()

    step(STEPS[1])
    node.run("stanza-create")
    node.run("check", timeout=90)  # forces a WAL switch and waits for it in the repository
    archive_id = node.archive_id()

    step(STEPS[2])
    bulk_rows = _load(primary, size_mb, on_load)
    primary.execute("create table pitr_commits (n bigint primary key, sent_at timestamptz default clock_timestamp())")
    database_mb = float(primary.scalar("select pg_database_size(current_database())")) / 2**20

    step(STEPS[3])
    started = time.perf_counter()
    node.backup("full")
    backup_seconds = time.perf_counter() - started

    # A writer commits continuously; the target time passes in the middle.
    step(STEPS[4])
    writer = CommitWriter(primary.info.dsn)
    writer.start()
    try:
        wait_until(lambda: len(writer.commits) >= 20, what="the writer's first commits", timeout=30)
        time.sleep(before_seconds)
        target_time = datetime.now(UTC)
        time.sleep(after_seconds)
    finally:
        commits = writer.stop()
    last_ack = commits[-1].acknowledged

    # The last commit's segment: switched now (production waits up to archive_timeout), timed until in the repo.
    step(STEPS[5])
    segment = str(primary.scalar("select pg_walfile_name(pg_switch_wal())"))
    wait_until(
        lambda: segment_in_repo(target, node.inputs, archive_id, segment),
        what=f"segment {segment} in the repo",
        timeout=60,
        interval=0.02,
    )
    archive_lag = time.time() - last_ack
    commit_times = {
        int(n): ts for n, ts in primary.execute("select n, pg_xact_commit_timestamp(xmin) from pitr_commits")
    }
    # The primary is lost; the restore must not depend on it.
    primary.stop(mode="immediate")
    _wait_for_pgbackrest_exit(node.config_path)

    # Restore into a NEW data directory of a new node rendered from the same production inputs.
    step(STEPS[6])
    restored = _new_server(factory, primary)
    restore_node = PgBackRestNode(
        _node_dir(restored),
        loopback_inputs(production, server=restored, node_dir=_node_dir(restored), target=target),
        factory.os_user,
        passphrase=passphrase,
        target=target,
        pgpass=_pgpass(restored),
    )
    started = time.perf_counter()
    restore_node.run(
        "--type=time",
        f"--target={target_literal(target_time)}",
        "--target-action=promote",
        "--archive-mode=off",  # a drill copy must never push WAL into the cluster's repository
        "restore",
        timeout=900,
    )
    restore_seconds = time.perf_counter() - started

    step(STEPS[7])
    recovery_started = time.perf_counter()
    restored.start(timeout=300)
    wait_until(lambda: not restored.is_in_recovery(), what="the restored server to promote", timeout=300)
    finished = time.perf_counter()

    step(STEPS[8])
    present = {int(r[0]) for r in restored.execute("select n from pitr_commits")}
    bulk_restored = int(restored.scalar("select count(*) from bulk"))
    auto_conf = (restored.info.data_dir / "postgresql.auto.conf").read_text()
    restore_command = next(
        (line.split("=", 1)[1].strip().strip("'") for line in auto_conf.splitlines() if line.startswith("restore_")),
        "",
    )
    before = {n for n, ts in commit_times.items() if ts <= target_time}
    after = set(commit_times) - before
    acknowledged_before = {c.n for c in commits if c.acknowledged <= target_time.timestamp()}
    sent_after = {c.n for c in commits if c.sent > target_time.timestamp()}
    return PitrResult(
        repo_type="s3" if isinstance(target, S3Target) else "posix",
        database_mb=database_mb,
        bulk_rows=bulk_rows,
        backup_seconds=backup_seconds,
        restore_seconds=restore_seconds,
        recovery_seconds=finished - recovery_started,
        rto_seconds=finished - started,
        archive_lag_seconds=archive_lag,
        archive_timeout_seconds=ARCHIVE_TIMEOUT_SECONDS,
        target=target_time,
        committed_before=len(before),
        committed_after=len(after),
        lost=sorted(before - present),
        extra=sorted(after & present),
        client_lost=sorted(acknowledged_before - present),
        client_extra=sorted(sent_after & present),
        bulk_rows_restored=bulk_restored,
        restore_command=restore_command,
        production=production,
        nodes=(node, restore_node),
        restored=restored,
    )


def _new_server(factory: PostgresFactory, like: PostgresServer) -> PostgresServer:
    """An empty, registered (so torn down with the factory) server: its data dir is for pgBackRest to fill."""
    workdir = make_workdir("cryb-pitr-restored-", factory.os_user)
    data_dir, socket_dir = workdir / "data", workdir / "sock"
    data_dir.mkdir(mode=0o700)
    socket_dir.mkdir(mode=0o700)
    chown_tree(workdir, factory.os_user)
    info = dataclasses.replace(like.info, port=free_port(), data_dir=data_dir, socket_dir=socket_dir)
    settings = {k: v for k, v in like.settings.items() if k not in ("archive_mode", "archive_command")}
    server = PostgresServer(
        name="pitr-restored", workdir=workdir, info=info, os_user=factory.os_user, settings=settings
    )
    factory.servers.append(server)
    return server


def pgbackrest_pids(marker: Path) -> list[int]:
    """Live pgBackRest processes whose command line names `marker` (e.g. a node's config path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            if b"pgbackrest" in cmdline and str(marker).encode() in cmdline:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
    return found


def _wait_for_pgbackrest_exit(marker: Path, timeout: float = 15.0) -> None:
    """The async archiver detaches from PostgreSQL's process group; let it finish, then make sure it is gone."""
    deadline = time.monotonic() + timeout
    while pgbackrest_pids(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pgbackrest_pids(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def posix_repo(os_user: ServiceUser | None) -> Iterator[PosixTarget]:
    """A directory repository owned by the server's OS user, deleted afterwards."""
    path = make_workdir("cryb-pgbackrest-repo-", os_user)
    try:
        yield PosixTarget(path)
    finally:
        remove_workdir(path)


def s3_target(server: Any, bucket: str = BUCKET) -> S3Target:
    """Create the bucket and a KMS key in moto-over-TLS (`scripts.servers.moto_tls.MotoTlsServer`)."""
    s3 = server.boto3_client("s3")
    s3.create_bucket(Bucket=bucket)
    key_arn = server.boto3_client("kms").create_key(Description=f"{bucket} key")["KeyMetadata"]["Arn"]
    return S3Target(
        endpoint=server.endpoint, ca_file=Path(server.ca_file), bucket=bucket, kms_key_arn=key_arn, client=s3
    )
