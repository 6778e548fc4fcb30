"""Point-in-time recovery with real pgBackRest 2.x and PostgreSQL 15, from the pgbackrest.conf the component renders.

The repository is the S3 bucket as a node sees it (moto's S3 over verified TLS on loopback, client-side
aes-256-cbc with the passphrase in conf.d/, SSE-KMS naming the bucket key), and, as an extra case, a posix
directory. A writer commits numbered rows while the target time passes; the restore goes into a new data
directory of a new node and must hold exactly the rows committed up to the target. Correctness only: the
figures for a few hundred MB are `python -m scripts bench pitr` (shared code: tests/servers/pgbackrest.py).
"""

import dataclasses
from pathlib import Path

import pytest

from components.selfhosted.pgbackrest_config import S3Repo, render_pgbackrest_conf, restore_command
from scripts.servers.moto_tls import MotoTlsServer, write_certificates
from scripts.servers.process import make_workdir, remove_workdir
from tests.servers.pgbackrest import (
    S3_SUBSTITUTED,
    SUBSTITUTED,
    PgBackRestNode,
    PitrResult,
    loopback_inputs,
    pgbackrest_pids,
    posix_repo,
    production_inputs,
    repo_objects,
    run_pitr_drill,
    s3_target,
)
from tests.servers.postgres import PostgresFactory

pytestmark = pytest.mark.servers

SIZE_MB = 40


def options(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def assert_exact_restore(result: PitrResult) -> None:
    """Every row committed up to the target is back, none committed after it, and the base backup is whole."""
    assert result.committed_before >= 50 and result.committed_after >= 50  # the target really fell mid-stream
    assert result.lost == [], f"committed before the target but missing: {result.lost[:10]}"
    assert result.extra == [], f"committed after the target but restored: {result.extra[:10]}"
    # The same with the client's clock: acknowledged before the target / COMMIT sent after it.
    assert result.client_lost == [] and result.client_extra == []
    assert result.bulk_rows_restored == result.bulk_rows
    assert result.restored.info.data_dir != result.nodes[0].inputs.pg_data_dir
    assert result.restored.scalar("select timeline_id from pg_control_checkpoint()") == 2  # promoted at the target
    assert result.restored.scalar("show archive_mode") == "off"  # a drill copy never archives into the repo
    assert result.rto_seconds >= result.restore_seconds + result.recovery_seconds - 0.01
    assert 0 <= result.archive_lag_seconds < 30


def assert_config_is_the_components(result: PitrResult) -> None:
    """Each node's file is render_pgbackrest_conf's text; its inputs differ from the component's only where
    loopback forces it."""
    # The options a loopback drill may change, named by hand: local paths and port, and how moto's S3 is reached
    # (or the posix directory that replaces the bucket). Every other line is what a prod node boots with.
    loopback = {"pg1-path", "pg1-port", "pg1-socket-path", "spool-path", "log-path", "lock-path"}
    loopback |= {"repo1-s3-endpoint", "repo1-s3-uri-style", "repo1-s3-key-type", "repo1-storage-ca-file"}
    if result.repo_type == "posix":
        loopback |= {"repo1-type", "repo1-path", "repo1-s3-bucket", "repo1-s3-region", "repo1-s3-kms-key-id"}
        loopback |= {"repo1-storage-verify-tls"}
    for node in result.nodes:
        on_disk = options((node.config_path / "pgbackrest.conf").read_text())
        production = options(render_pgbackrest_conf(result.production))
        changed = {k for k in on_disk.keys() | production.keys() if on_disk.get(k) != production.get(k)}
        assert changed <= loopback, changed - loopback
        assert on_disk["repo1-retention-full"] == "35" and on_disk["repo1-cipher-type"] == "aes-256-cbc"
        changed = {
            f.name
            for f in dataclasses.fields(node.inputs)
            if getattr(node.inputs, f.name) != getattr(result.production, f.name)
        }
        assert changed - {"repo"} <= SUBSTITUTED
        secrets_in_file = {"repo1-cipher-pass", "repo1-s3-key", "repo1-s3-key-secret"} & set(on_disk)
        assert secrets_in_file == set()  # they stay in conf.d/
        # Archiving and restoring ran the component's commands for this config path.
        assert f"--config-path={node.config_path}" in node.archive_command()
    assert result.restore_command == restore_command(str(result.nodes[1].config_path), result.nodes[1].stanza)


def test_s3_over_tls_restores_exactly_to_the_target_time(
    moto_tls: MotoTlsServer, postgres_factory: PostgresFactory
) -> None:
    moto_tls.reset()
    target = s3_target(moto_tls)
    result = run_pitr_drill(postgres_factory, target, size_mb=SIZE_MB)

    assert result.repo_type == "s3"
    assert_exact_restore(result)
    assert_config_is_the_components(result)

    # The S3 repository as the component renders it: the bucket key, client-side cipher, TLS verified by a CA.
    for node in result.nodes:
        assert isinstance(node.inputs.repo, S3Repo) and isinstance(result.production.repo, S3Repo)
        changed = {
            f.name
            for f in dataclasses.fields(S3Repo)
            if getattr(node.inputs.repo, f.name) != getattr(result.production.repo, f.name)
        }
        assert changed <= S3_SUBSTITUTED
        conf = options(node.conf_text)
        assert conf["repo1-type"] == "s3" and conf["repo1-s3-endpoint"] == moto_tls.endpoint
        assert conf["repo1-cipher-type"] == "aes-256-cbc"
        assert conf["repo1-s3-kms-key-id"] == target.kms_key_arn
        assert conf["repo1-storage-verify-tls"] == "y" and Path(conf["repo1-storage-ca-file"]).is_file()

    # Everything landed under the cluster's own prefix, encrypted by pgBackRest and under the bucket key.
    prefix = f"{result.production.repo.prefix}/" if isinstance(result.production.repo, S3Repo) else ""
    keys = repo_objects(target, "")
    assert keys and all(key.startswith(prefix) for key in keys)
    wal = [k for k in keys if "/archive/" in k and k.endswith(".zst")]
    bundles = [k for k in keys if "/bundle/" in k]
    assert wal and bundles
    for key in (wal[-1], bundles[0], f"{prefix}backup/{result.nodes[0].stanza}/backup.info"):
        obj = target.client.get_object(Bucket=target.bucket, Key=key)
        assert obj["Body"].read(8) == b"Salted__", key  # aes-256-cbc, not plain zstd
        assert (obj["ServerSideEncryption"], obj["SSEKMSKeyId"]) == ("aws:kms", target.kms_key_arn)

    # Nothing of pgBackRest outlives the drill's servers.
    primary_config, restored_config = (node.config_path for node in result.nodes)
    postgres_factory.close()
    assert pgbackrest_pids(primary_config) == [] and pgbackrest_pids(restored_config) == []
    print(
        f"\nPITR (S3 over TLS, {result.database_mb:.0f} MB): backup {result.backup_seconds:.2f} s, "
        f"restore {result.restore_seconds:.2f} s, RTO {result.rto_seconds:.2f} s, "
        f"archive lag {result.archive_lag_seconds:.2f} s, rows {result.rows_checked}"
    )


def test_the_repository_certificate_is_really_verified(
    moto_tls: MotoTlsServer, postgres_factory: PostgresFactory
) -> None:
    """The same rendered config with another authority's CA file cannot reach the repository."""
    moto_tls.reset()
    target = s3_target(moto_tls)
    server = postgres_factory.create(name="pitr-tls", start=False)
    production = production_inputs(bucket=target.bucket, kms_key_arn=target.kms_key_arn)
    other_ca_dir = make_workdir("cryb-other-ca-", None)
    try:
        other_ca_dir.chmod(0o755)
        strangers = dataclasses.replace(target, ca_file=write_certificates(other_ca_dir).ca_file)
        results: dict[str, str] = {}
        for name, repo_target in (("right", target), ("wrong", strangers)):
            node_dir = server.workdir / f"node-{name}"
            node_dir.mkdir()
            node = PgBackRestNode(
                node_dir,
                loopback_inputs(production, server=server, node_dir=node_dir, target=repo_target),
                postgres_factory.os_user,
                passphrase="not-used-here",
                target=repo_target,
                pgpass="",
            )
            try:
                node.run("--io-timeout=1", "repo-ls", timeout=60)
                results[name] = "ok"
            except RuntimeError as exc:
                results[name] = str(exc)
    finally:
        remove_workdir(other_ca_dir)
    assert results["right"] == "ok"
    assert "unable to verify certificate" in results["wrong"]


def test_posix_repository_restores_exactly_to_the_target_time(postgres_factory: PostgresFactory) -> None:
    with posix_repo(postgres_factory.os_user) as target:
        result = run_pitr_drill(postgres_factory, target, size_mb=10, before_seconds=1.0, after_seconds=1.0)
        assert result.repo_type == "posix"
        assert_exact_restore(result)
        assert_config_is_the_components(result)
        assert options(result.nodes[0].conf_text)["repo1-path"] == str(target.path)
        # Encrypted on disk too (the cipher settings do not depend on the repository type).
        (segment, *_) = sorted(target.path.glob("archive/*/*/*/*.zst"))
        assert segment.read_bytes()[:8] == b"Salted__"
