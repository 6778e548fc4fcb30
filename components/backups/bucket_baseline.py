"""The settings every bucket of the project gets (S3.1/S3.8/S3.14, S3.17): owner-enforced (no ACLs), all public access
blocked, object events on EventBridge (deletes and lock changes can raise alarms), versioning, and SSE-KMS with a
customer key. Declared by the backup buckets and the signed-artifact buckets (components/signing)."""

import pulumi
import pulumi_aws as aws


def lock_down(label: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions) -> aws.s3.BucketVersioning:
    """Declare `{label}-events`, `-ownership`, `-public-access-block`, `-versioning`; return the versioning
    (replication and AWS Signer need it on first)."""
    aws.s3.BucketNotification(f"{label}-events", bucket=bucket.id, eventbridge=True, opts=opts)
    aws.s3.BucketOwnershipControls(
        f"{label}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts
    )
    aws.s3.BucketPublicAccessBlock(
        f"{label}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    return aws.s3.BucketVersioning(
        f"{label}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
    )


def encrypt(label: str, bucket: aws.s3.Bucket, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """Declare `{label}-encryption`: SSE-KMS with `key_arn` by default."""
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{label}-encryption",
        bucket=bucket.id,
        rules=[
            {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn},
                # One data key per bucket instead of per object: far fewer KMS calls, same key and audit trail.
                "bucket_key_enabled": True,
            }
        ],
        opts=opts,
    )
