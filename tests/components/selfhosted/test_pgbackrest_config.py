"""pgbackrest.conf: the S3 repository under the cluster's own prefix with the bucket's KMS key, client-side
encryption whose passphrase stays out of the file, async archiving, retention; pgBackRest 2.45 accepts it."""

import shutil
import subprocess
from pathlib import Path

import pytest

from components.selfhosted.pgbackrest_config import (
    PgBackRestInputs,
    PosixRepo,
    S3Repo,
    archive_command,
    backup_command,
    render_cipher_include,
    render_pgbackrest_conf,
    replica_restore_command,
    restore_command,
)

KEY = "arn:aws:kms:us-east-1:123456789012:key/0b5f1e3c-backup"


def s3_inputs(tmp: Path, **repo: str) -> PgBackRestInputs:
    return PgBackRestInputs(
        stanza="analytics",
        repo=S3Repo(
            bucket="cryb-prod-backups",
            region="us-east-1",
            kms_key_arn=KEY,
            prefix=repo.get("prefix", "pgbackrest-analytics"),
        ),
        pg_data_dir="/data/postgresql/data",
        pg_port=5432,
        pg_socket_dir="/var/run/postgresql",
        spool_path=str(tmp / "spool"),
        log_path=str(tmp / "log"),
        lock_path=str(tmp / "lock"),
        retention_full_days=35,
    )


def options(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_s3_repo_is_the_clusters_prefix_with_the_bucket_key_and_instance_credentials(tmp_path: Path) -> None:
    conf = options(render_pgbackrest_conf(s3_inputs(tmp_path)))
    assert conf["repo1-type"] == "s3"
    assert conf["repo1-s3-bucket"] == "cryb-prod-backups"
    assert conf["repo1-path"] == "/pgbackrest-analytics"
    assert conf["repo1-s3-region"] == "us-east-1"
    assert conf["repo1-s3-endpoint"] == "s3.us-east-1.amazonaws.com"  # served by the VPC's S3 gateway endpoint
    assert conf["repo1-s3-key-type"] == "auto"  # instance profile, no keys on disk
    assert conf["repo1-s3-kms-key-id"] == KEY  # the bucket policy rejects uploads not naming it
    assert conf["repo1-storage-verify-tls"] == "y"


def test_encryption_async_archiving_and_retention(tmp_path: Path) -> None:
    text = render_pgbackrest_conf(s3_inputs(tmp_path))
    conf = sections(text)["global"]
    assert conf["repo1-cipher-type"] == "aes-256-cbc"
    assert "cipher-pass" not in text  # the passphrase comes from Secrets Manager into conf.d/
    assert conf["archive-async"] == "y" and conf["spool-path"] == str(tmp_path / "spool")
    assert conf["archive-push-queue-max"] == "64GiB"
    assert (conf["repo1-retention-full-type"], conf["repo1-retention-full"]) == ("time", "35")
    assert sections(text)["analytics"]["pg1-path"] == "/data/postgresql/data"


def sections(text: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(current, {})[key] = value
    return found


def test_wal_is_pushed_asynchronously_and_fetched_synchronously(tmp_path: Path) -> None:
    conf = sections(render_pgbackrest_conf(s3_inputs(tmp_path)))
    assert conf["global"]["archive-async"] == "y"
    assert "archive-async" not in conf["global:archive-push"]  # the global y: archive_command returns at once
    # A promotion waits on restore_command; an asynchronous archive-get can wait 60 s for its background process.
    assert conf["global:archive-get"]["archive-async"] == "n"


def test_invalid_names_and_numbers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix = 'pg/analytics'"):
        render_pgbackrest_conf(s3_inputs(tmp_path, prefix="pg/analytics"))
    bad = PgBackRestInputs(
        stanza="Analytics",
        repo=PosixRepo("/r"),
        pg_data_dir="/d",
        pg_port=5432,
        pg_socket_dir="/s",
        spool_path="/sp",
        log_path="/l",
        lock_path="/lk",
        process_max=0,
        retention_full_days=0,
    )
    with pytest.raises(ValueError) as caught:
        render_pgbackrest_conf(bad)
    assert "stanza = 'Analytics'" in str(caught.value)
    assert "process_max = 0" in str(caught.value) and "retention_full_days = 0" in str(caught.value)
    with pytest.raises(ValueError, match="one non-empty line"):
        render_cipher_include("abc\nrepo1-type=posix")


def test_commands_read_the_config_path_so_the_passphrase_include_is_used() -> None:
    assert archive_command("/etc/pgbackrest", "analytics") == (
        "pgbackrest --config-path=/etc/pgbackrest --stanza=analytics archive-push %p"
    )
    assert restore_command("/etc/pgbackrest", "analytics").endswith('archive-get %f "%p"')
    assert replica_restore_command("/etc/pgbackrest", "analytics").endswith("--delta restore")
    assert backup_command("/etc/pgbackrest", "analytics", "diff").endswith("--type=diff backup")


pgbackrest = pytest.mark.skipif(shutil.which("pgbackrest") is None, reason="pgbackrest is not installed")


@pgbackrest
def test_pgbackrest_knows_every_rendered_option(tmp_path: Path) -> None:
    conf = options(render_pgbackrest_conf(s3_inputs(tmp_path)))
    unknown = []
    for name in conf:
        generic = name.replace("repo1-", "repo-").replace("pg1-", "pg-")
        known = (
            subprocess.run(["pgbackrest", "help", command, generic], capture_output=True, timeout=10).returncode == 0
            for command in ("backup", "archive-push")
        )
        if not any(known):
            unknown.append(name)
    assert unknown == []


@pgbackrest
def test_the_passphrase_include_is_read_and_required(tmp_path: Path) -> None:
    """With --config-path pgBackRest reads conf.d/; without the passphrase it refuses an encrypted repo."""
    config = tmp_path / "cfg"
    (config / "conf.d").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    inputs = PgBackRestInputs(
        stanza="analytics",
        repo=PosixRepo(str(tmp_path / "repo")),
        pg_data_dir=str(tmp_path / "data"),
        pg_port=5432,
        pg_socket_dir=str(tmp_path),
        spool_path=str(tmp_path / "spool"),
        log_path=str(tmp_path / "log"),
        lock_path=str(tmp_path / "lock"),
    )
    (config / "pgbackrest.conf").write_text(render_pgbackrest_conf(inputs))
    info = ["pgbackrest", f"--config-path={config}", "--stanza=analytics", "info"]
    refused = subprocess.run(info, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "repo1-cipher-pass" in refused.stdout + refused.stderr
    (config / "conf.d" / "cipher.conf").write_text(render_cipher_include("passphrase-from-secrets-manager"))
    accepted = subprocess.run(info, capture_output=True, text=True, timeout=30)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "missing stanza path" in accepted.stdout  # configuration accepted; the repository is simply empty
