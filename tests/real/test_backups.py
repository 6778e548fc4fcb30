"""The Object Lock settings the Backups component records (tests/components/backups/program.py), applied to a real
moto server: a locked version survives deletes and overwrites, and only GOVERNANCE mode can be bypassed.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from scripts.mock_engine import Evaluation
from tests.components.backups.program import (
    COMPONENT,
    config_of,
    graphs_fixture,  # noqa: F401 - fixture
    program_dir_fixture,  # noqa: F401 - fixture
)


@pytest.fixture()
def s3(moto_server: str) -> Iterator[Any]:
    yield boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")


def _locked_bucket(s3: Any, graph: Evaluation) -> str:
    """A moto bucket with the Object Lock configuration the graph records for the primary backup bucket."""
    primary = graph.named(f"{COMPONENT}-bucket")
    recorded = config_of(graph, "BucketObjectLockConfiguration", primary).inputs
    name = f"lock-{graph.stack}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=primary.inputs["objectLockEnabled"])
    retention = recorded["rule"]["defaultRetention"]
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": recorded["objectLockEnabled"],
            "Rule": {"DefaultRetention": {"Mode": retention["mode"], "Days": int(retention["days"])}},
        },
    )
    return name


@pytest.mark.servers
@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_a_locked_version_can_be_neither_deleted_nor_overwritten(
    s3: Any, graphs: dict[str, Evaluation], stack: str
) -> None:
    bucket = _locked_bucket(s3, graphs[stack])
    first = s3.put_object(Bucket=bucket, Key="pgbackrest/backup.info", Body=b"original")["VersionId"]
    assert s3.head_object(Bucket=bucket, Key="pgbackrest/backup.info", VersionId=first)["ObjectLockMode"] == (
        "COMPLIANCE" if stack == "prod" else "GOVERNANCE"
    )
    # "Overwriting" adds a version; the locked one stays byte for byte.
    s3.put_object(Bucket=bucket, Key="pgbackrest/backup.info", Body=b"tampered")
    assert s3.get_object(Bucket=bucket, Key="pgbackrest/backup.info", VersionId=first)["Body"].read() == b"original"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key="pgbackrest/backup.info", VersionId=first)
    # A plain delete only adds a delete marker; the version is still there.
    s3.delete_object(Bucket=bucket, Key="pgbackrest/backup.info")
    assert s3.get_object(Bucket=bucket, Key="pgbackrest/backup.info", VersionId=first)["Body"].read() == b"original"


@pytest.mark.servers
def test_only_governance_mode_can_be_bypassed(s3: Any, graphs: dict[str, Evaluation]) -> None:
    outcomes = {}
    for stack in ("prod", "dev"):
        bucket = _locked_bucket(s3, graphs[stack])
        version = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
        try:
            s3.delete_object(Bucket=bucket, Key="k", VersionId=version, BypassGovernanceRetention=True)
            outcomes[stack] = "deleted"
        except ClientError as exc:
            outcomes[stack] = exc.response["Error"]["Code"]
    assert outcomes == {"prod": "AccessDenied", "dev": "deleted"}  # COMPLIANCE binds even privileged callers
