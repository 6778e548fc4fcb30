"""barman-cloud (the tool CloudNativePG archives WAL with) run with what a rendered `Cluster` says: the WAL archive
options of `spec.backup.barmanObjectStore` (gzip, SSE-KMS, `archiveAdditionalCommandArgs` naming the bucket key,
which the backup bucket's policy requires) against moto's S3, then restored with barman-cloud-wal-restore. Composed
as the operator composes them (compression and encryption flags, the additional arguments, the destination path,
the server name = the cluster's name, the WAL path); credentials here are moto's, IRSA's on the cluster."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from components.kubernetes import cnpg
from tests.components.kubernetes.test_cnpg import CLUSTER_SPEC

pytestmark = pytest.mark.servers
BIN = Path(sys.executable).parent
for _tool in ("barman-cloud-wal-archive", "barman-cloud-wal-restore"):
    if not (BIN / _tool).exists():
        raise RuntimeError(f"{_tool} is not installed: run .ci/setup.sh (barman in requirements-dev.txt)")
WAL = "000000010000000000000001"
BUCKET = "cryb-test-backups"


def _barman(tool: str, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / tool), "--cloud-provider", "aws-s3", "--endpoint-url", endpoint, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_wal_is_archived_gzip_with_the_bucket_key_and_restores(moto_server: str, tmp_path: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    key_arn = boto3.client("kms", endpoint_url=moto_server, region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    s3.create_bucket(Bucket=BUCKET)
    spec = dataclasses.replace(
        CLUSTER_SPEC,
        backup_destination=f"s3://{BUCKET}/cnpg-shard0/",
        sse_kms_argument=f"--sse-kms-key-id={key_arn}",
    )
    store = cnpg.cluster(spec)["spec"]["backup"]["barmanObjectStore"]
    wal = store["wal"]
    assert (wal["compression"], wal["encryption"]) == ("gzip", "aws:kms")
    segment = tmp_path / WAL
    segment.write_bytes(os.urandom(64 * 1024) * 8)  # compressible, like a real segment's padding
    archived = _barman(
        "barman-cloud-wal-archive",
        moto_server,
        f"--{wal['compression']}",
        "--encryption",
        wal["encryption"],
        *wal["archiveAdditionalCommandArgs"],
        store["destinationPath"],
        spec.name,
        str(segment),
    )
    assert archived.returncode == 0, archived.stderr

    (stored,) = s3.list_objects_v2(Bucket=BUCKET, Prefix="cnpg-shard0/")["Contents"]
    assert stored["Key"] == f"cnpg-shard0/shard0/wals/0000000100000000/{WAL}.gz"  # under the role's own prefix
    head = s3.head_object(Bucket=BUCKET, Key=stored["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_arn  # the header the bucket policy requires on every upload

    restored = tmp_path / "restored"
    back = _barman("barman-cloud-wal-restore", moto_server, store["destinationPath"], spec.name, WAL, str(restored))
    assert back.returncode == 0, back.stderr
    assert restored.read_bytes() == segment.read_bytes()
