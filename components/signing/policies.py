"""What the code signing resources are built from, as pure functions and constants: the Signer platform, where
packages and signed copies live in the artifacts bucket, its lifecycle rules and bucket policy."""

import re
from typing import TYPE_CHECKING, Any

from components.backups.policies import deny_insecure_transport

if TYPE_CHECKING:  # the provider's input shapes, so pyright checks these documents against the resources
    from pulumi_aws.s3 import BucketLifecycleConfigurationRuleArgsDict

# The only platform Lambda accepts signatures of (AWS Signer's Lambda platform).
PLATFORM_ID = "AWSLambda-SHA384-ECDSA"
# Signer's default and maximum signature validity: a signature that expired makes Lambda refuse the package on the
# next deployment of that code (Enforce), never a running function.
SIGNATURE_VALIDITY_MONTHS = 135
UNSIGNED_PREFIX = "unsigned"
SIGNED_PREFIX = "signed"
# Older versions of a package stay this long (a rollback re-signs nothing: the old signed object is still there).
NONCURRENT_VERSION_DAYS = 30
ABORT_INCOMPLETE_UPLOADS_DAYS = 1


def package_key(function_label: str) -> str:
    """Where a function's unsigned package is uploaded; one key per function, a new S3 version per change."""
    return f"{UNSIGNED_PREFIX}/{function_label}.zip"


def signed_prefix(function_label: str) -> str:
    """Where Signer writes the function's signed copies (`<prefix><job id>.zip`)."""
    return f"{SIGNED_PREFIX}/{function_label}/"


def profile_name_prefix(component_name: str) -> str:
    """Signer profile names allow letters, digits and underscores only (2-64 characters; a prefix at most 38)."""
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", component_name) + "_"
    if len(prefix) > 38:
        raise ValueError(f"{component_name!r}: a Signer profile name prefix is at most 38 characters")
    return prefix


def artifact_lifecycle_rules(
    noncurrent_days: int = NONCURRENT_VERSION_DAYS, abort_days: int = ABORT_INCOMPLETE_UPLOADS_DAYS
) -> "list[BucketLifecycleConfigurationRuleArgsDict]":
    """Current packages stay; replaced versions go after `noncurrent_days`, incomplete uploads after `abort_days`."""
    return [
        {
            "id": "expire-replaced-packages",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": abort_days},
        },
        {
            "id": "remove-expired-delete-markers",
            "status": "Enabled",
            "filter": {},
            "expiration": {"expired_object_delete_marker": True},
        },
    ]


def artifact_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """TLS 1.2+ only (S3.5). Uploads are encrypted by the bucket's default (SSE-KMS with the artifacts key): no
    deny on a missing SSE header: AWS Signer, which writes the signed copies, is not documented to send one."""
    return {"Version": "2012-10-17", "Statement": deny_insecure_transport(bucket_arn)}
