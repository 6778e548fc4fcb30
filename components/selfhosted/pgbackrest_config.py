"""pgbackrest.conf of a self-hosted cluster and the commands PostgreSQL and Patroni run, as pure functions.

Each cluster writes only under its own prefix of the backup bucket (the instance profile allows nothing else).
Objects are encrypted twice: client side with `aes-256-cbc` (the passphrase lives in Secrets Manager and reaches
the node as `conf.d/cipher.conf`, never this file), and server side with SSE-KMS under the bucket's key, which
the bucket policy demands on every upload (components/backups/policies.backup_bucket_policy).
"""

import re
from dataclasses import dataclass
from typing import Literal

CIPHER_TYPE = "aes-256-cbc"
CIPHER_INCLUDE = "conf.d/cipher.conf"  # relative to --config-path; written at boot, mode 0640 postgres
_STANZA = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class S3Repo:
    """The backup bucket; credentials come from the instance profile (`auto` speaks IMDSv2, pgbackrest#1691)."""

    bucket: str
    region: str
    kms_key_arn: str
    prefix: str
    endpoint: str | None = None
    """None: the regional endpoint (reached through the VPC's S3 gateway endpoint)."""
    uri_style: Literal["host", "path"] = "host"
    key_type: Literal["auto", "shared"] = "auto"
    verify_tls: bool = True
    ca_file: str | None = None


@dataclass(frozen=True)
class PosixRepo:
    """A directory repository: drills and an extra local copy only."""

    path: str


@dataclass(frozen=True)
class PgBackRestInputs:
    """What pgbackrest.conf of one node is rendered from (all nodes of a cluster render the same file)."""

    stanza: str
    repo: S3Repo | PosixRepo
    pg_data_dir: str
    pg_port: int
    pg_socket_dir: str
    spool_path: str
    log_path: str
    lock_path: str
    process_max: int = 2
    retention_full_days: int = 35
    retention_diff: int = 7
    archive_push_queue_max_gib: int = 64
    encrypted: bool = True
    compress_type: Literal["zst", "lz4", "gz"] = "zst"


def validate(inputs: PgBackRestInputs) -> list[str]:
    problems = []
    if not _STANZA.match(inputs.stanza):
        problems.append(f"stanza = {inputs.stanza!r}: must be 1-63 lowercase letters, digits or '-'")
    if isinstance(inputs.repo, S3Repo) and not _PREFIX.match(inputs.repo.prefix):
        problems.append(f"prefix = {inputs.repo.prefix!r}: must be 1-63 lowercase letters, digits or '-' (no '/')")
    if not 1 <= inputs.process_max <= 32:
        problems.append(f"process_max = {inputs.process_max}: must be 1-32")
    if inputs.retention_full_days < 1:
        problems.append(f"retention_full_days = {inputs.retention_full_days}: must be at least 1")
    if inputs.retention_diff < 1:
        problems.append(f"retention_diff = {inputs.retention_diff}: must be at least 1")
    if inputs.archive_push_queue_max_gib < 1:
        problems.append(f"archive_push_queue_max_gib = {inputs.archive_push_queue_max_gib}: must be at least 1")
    return problems


def _repo_lines(repo: S3Repo | PosixRepo) -> list[str]:
    if isinstance(repo, PosixRepo):
        return ["repo1-type=posix", f"repo1-path={repo.path}"]
    lines = [
        "repo1-type=s3",
        f"repo1-path=/{repo.prefix}",
        f"repo1-s3-bucket={repo.bucket}",
        f"repo1-s3-region={repo.region}",
        f"repo1-s3-endpoint={repo.endpoint or f's3.{repo.region}.amazonaws.com'}",
        f"repo1-s3-uri-style={repo.uri_style}",
        f"repo1-s3-key-type={repo.key_type}",
        # The bucket policy rejects uploads that do not name its key (SSE-KMS, not the aws/s3 key).
        f"repo1-s3-kms-key-id={repo.kms_key_arn}",
        f"repo1-storage-verify-tls={'y' if repo.verify_tls else 'n'}",
    ]
    if repo.ca_file:
        lines.append(f"repo1-storage-ca-file={repo.ca_file}")
    return lines


def render_pgbackrest_conf(inputs: PgBackRestInputs) -> str:
    """pgbackrest.conf text; ValueError naming every broken rule."""
    problems = validate(inputs)
    if problems:
        raise ValueError("; ".join(problems))
    lines = [
        "# Rendered by components/selfhosted/pgbackrest_config.py; do not edit. The cipher passphrase is in conf.d/.",
        "[global]",
        *_repo_lines(inputs.repo),
    ]
    if inputs.encrypted:
        lines.append(f"repo1-cipher-type={CIPHER_TYPE}")
    lines += [
        "repo1-retention-full-type=time",
        f"repo1-retention-full={inputs.retention_full_days}",
        f"repo1-retention-diff={inputs.retention_diff}",
        "repo1-bundle=y",  # fewer, larger objects: cheaper and faster on S3
        # WAL leaves through a local spool in parallel, so archive_command returns fast under write bursts.
        "archive-async=y",
        f"spool-path={inputs.spool_path}",
        # Past this queue WAL is dropped (PITR gap, new full backup needed) rather than filling pg_wal and
        # stopping the primary: availability first, and an alarm on the warning.
        f"archive-push-queue-max={inputs.archive_push_queue_max_gib}GiB",
        f"process-max={inputs.process_max}",
        f"compress-type={inputs.compress_type}",
        "start-fast=y",
        "delta=y",
        f"log-path={inputs.log_path}",
        f"lock-path={inputs.lock_path}",
        "log-level-console=info",
        "log-level-file=detail",
        "",
        "[global:archive-push]",
        f"process-max={inputs.process_max}",
        "",
        "[global:archive-get]",
        # Synchronous: PostgreSQL acts on a promotion only once restore_command returns, and an asynchronous
        # archive-get can wait archive-timeout (60 s) for its background process (measured: a promotion delayed by
        # 60 s). Replicas stream; the archive is their fallback and a restore's source, one segment at a time.
        "archive-async=n",
        "",
        f"[{inputs.stanza}]",
        f"pg1-path={inputs.pg_data_dir}",
        f"pg1-port={inputs.pg_port}",
        f"pg1-socket-path={inputs.pg_socket_dir}",
    ]
    return "\n".join(lines) + "\n"


def render_cipher_include(passphrase: str) -> str:
    """conf.d/cipher.conf: written by the node at boot from Secrets Manager (tests write it directly)."""
    if not passphrase or "\n" in passphrase:
        raise ValueError("the cipher passphrase must be one non-empty line")
    return f"[global]\nrepo1-cipher-pass={passphrase}\n"


def _pgbackrest(config_path: str, stanza: str) -> str:
    # --config-path (not --config) so the conf.d include with the passphrase is read too.
    return f"pgbackrest --config-path={config_path} --stanza={stanza}"


def archive_command(config_path: str, stanza: str) -> str:
    return f"{_pgbackrest(config_path, stanza)} archive-push %p"


def restore_command(config_path: str, stanza: str) -> str:
    return f'{_pgbackrest(config_path, stanza)} archive-get %f "%p"'


def replica_restore_command(config_path: str, stanza: str) -> str:
    """How Patroni rebuilds a replica from the repository (it falls back to pg_basebackup if this fails)."""
    return f"{_pgbackrest(config_path, stanza)} --delta restore"


def source_repository(config_path: str, stanza: str, source_prefix: str) -> str:
    """pgBackRest on another cluster's repository in the same bucket: the node's own configuration (bucket, key,
    cipher passphrase) with only the repository path replaced on the command line, so nothing is ever written there
    by this file's archive-push or backups (they name no path and use the cluster's own prefix)."""
    if not _PREFIX.match(source_prefix):
        raise ValueError(f"source_prefix = {source_prefix!r}: must be 1-63 lowercase letters, digits or '-' (no '/')")
    return f"{_pgbackrest(config_path, stanza)} --repo1-path=/{source_prefix}"


def standby_restore_command(config_path: str, stanza: str, source_prefix: str) -> str:
    """A standby cluster's restore_command: WAL from the primary's (replicated) repository."""
    return f'{source_repository(config_path, stanza, source_prefix)} archive-get %f "%p"'


def standby_seed_command(config_path: str, stanza: str, source_prefix: str) -> str:
    """How a standby cluster's leader is first created: the primary's newest backup from its repository."""
    return f"{source_repository(config_path, stanza, source_prefix)} --delta restore"


def backup_command(config_path: str, stanza: str, kind: Literal["full", "diff", "incr"]) -> str:
    return f"{_pgbackrest(config_path, stanza)} --type={kind} backup"
