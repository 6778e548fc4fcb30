"""Lambda code signing in one region: the artifacts bucket (and its access-log bucket), the AWS Signer profile and
the code signing configuration that enforces its signatures; `sign()` gives a function its signed package."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.backups.bucket_baseline import encrypt, lock_down
from components.backups.policies import (
    ACCESS_LOG_PREFIX,
    access_log_bucket_policy,
    access_log_lifecycle_rules,
)
from components.backups.replication import ReplicatedBucket, declare_replication
from components.signing.policies import (
    PLATFORM_ID,
    SIGNATURE_VALIDITY_MONTHS,
    artifact_bucket_policy,
    artifact_lifecycle_rules,
    package_key,
    profile_name_prefix,
    signed_prefix,
)


class CodeSigningArgs(TypedDict):
    """Inputs of CodeSigning."""

    account_id: str
    """The account whose S3 logging service may write the access logs."""
    region: str
    """Region of the buckets, profile and configuration: Signer signs only within one region, and Lambda takes
    code only from a bucket in its own region."""
    kms_key_arn: pulumi.Input[str]
    """The region's `artifacts` key (components/security): both buckets' default encryption."""
    access_log_retention_days: int
    """Days the artifacts bucket's access logs are kept."""
    tags: Mapping[str, str]
    """Tags of every taggable child."""


@dataclass(frozen=True)
class SignedCode:
    """What a function needs to run signed code: the signed copy's location and the configuration enforcing it."""

    s3_bucket: pulumi.Output[str]
    s3_key: pulumi.Output[str]
    code_signing_config_arn: pulumi.Output[str]


class CodeSigning(pulumi.ComponentResource):
    """One region's code signing: every Lambda function of the region is deployed through `sign()`."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    profile_name: pulumi.Output[str]
    profile_version_arn: pulumi.Output[str]
    code_signing_config_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CodeSigningArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:signing:CodeSigning", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        key = args["kms_key_arn"]

        logs = aws.s3.Bucket(
            f"{name}-access-logs",
            force_destroy=False,
            tags=self._tag(f"{name}-access-logs", purpose="s3-access-logs"),
            opts=child,
        )
        log_versioning = self._lock_down(f"{name}-access-logs", logs, key)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-access-logs-lifecycle",
            bucket=logs.id,
            rules=access_log_lifecycle_rules(args["access_log_retention_days"], 1),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_versioning]),
        )

        # Object Lock is switched on at creation (it cannot be later) without a default retention: S3 then requires
        # a checksum header on every write, and AWS Signer's writes of the signed copies are not documented to send
        # one (docs/code-signing.md#the-artifacts-bucket).
        bucket = aws.s3.Bucket(
            f"{name}-artifacts",
            object_lock_enabled=True,
            force_destroy=False,
            tags=self._tag(f"{name}-artifacts", purpose="lambda-artifacts"),
            opts=child,
        )
        self._versioning = self._lock_down(f"{name}-artifacts", bucket, key)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts-lifecycle",
            bucket=bucket.id,
            rules=artifact_lifecycle_rules(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-artifacts-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(artifact_bucket_policy(arn))),
            opts=child,
        )
        log_policy = aws.s3.BucketPolicy(
            f"{name}-access-logs-policy",
            bucket=logs.id,
            policy=pulumi.Output.all(logs.arn, bucket.arn).apply(
                lambda a: json.dumps(access_log_bucket_policy(a[0], [a[1]], args["account_id"]))
            ),
            opts=child,
        )
        aws.s3.BucketLogging(
            f"{name}-artifacts-logging",
            bucket=bucket.id,
            target_bucket=logs.bucket,
            target_prefix=bucket.bucket.apply(lambda b: f"{ACCESS_LOG_PREFIX}/{b}/"),
            target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy]),
        )

        profile = aws.signer.SigningProfile(
            f"{name}-profile",
            name_prefix=profile_name_prefix(name),
            platform_id=PLATFORM_ID,
            signature_validity_period={"type": "MONTHS", "value": SIGNATURE_VALIDITY_MONTHS},
            tags=self._tag(f"{name}-profile"),
            opts=child,
        )
        config = aws.lambda_.CodeSigningConfig(
            f"{name}-config",
            description=f"cryb-db {name}: only packages signed by this stack's Signer profile deploy",
            allowed_publishers={"signing_profile_version_arns": [profile.version_arn]},
            # Enforce: Lambda refuses a package without a valid signature of the profile (Warn would only log).
            policies={"untrusted_artifact_on_deployment": "Enforce"},
            tags=self._tag(f"{name}-config"),
            opts=child,
        )
        self._bucket, self._key_arn = bucket, key
        self.bucket_name, self.bucket_arn = bucket.bucket, bucket.arn
        self.profile_name, self.profile_version_arn = profile.name, profile.version_arn
        self.code_signing_config_arn = config.arn
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "profileName": self.profile_name,
                "profileVersionArn": self.profile_version_arn,
                "codeSigningConfigArn": self.code_signing_config_arn,
            }
        )

    def _tag(self, label: str, **extra: str) -> dict[str, str]:
        return {**self._args["tags"], "Name": label, **extra}

    def _lock_down(self, label: str, bucket: aws.s3.Bucket, key: pulumi.Input[str]) -> aws.s3.BucketVersioning:
        """The project's bucket baseline with the artifacts key (AWS Signer signs only versioned objects)."""
        child = pulumi.ResourceOptions(parent=self)
        versioning = lock_down(label, bucket, child)
        encrypt(label, bucket, key, child)
        return versioning

    def replicate_to(self, replica: "CodeSigning") -> None:
        """Copy every package and signed copy to `replica`'s bucket (another region, S3.7): what ran is kept where
        the DR region can read it. Declared after both exist (the replica's region is wired later in __main__)."""
        args = self._args
        declare_replication(
            f"{self._name}-replication",
            source_bucket_id=self._bucket.id,
            source=ReplicatedBucket(self.bucket_arn, self._key_arn, args["region"], self._versioning),
            replica=ReplicatedBucket(
                replica.bucket_arn, replica._key_arn, replica._args["region"], replica._versioning
            ),
            rule_id="replicate-artifacts-to-dr",
            description="S3 replication of the cryb-db Lambda artifacts bucket to the DR region's",
            account_id=args["account_id"],
            tags=args["tags"],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def sign(self, label: str, package: pulumi.Archive, *, parent: pulumi.Resource) -> SignedCode:
        """Upload `package` (a zip) as `{label}-package` and sign it as `{label}-signing`, both children of `parent`
        (the function's component, whose provider they share). A changed package is a new S3 version, so a new
        signing job and a new signed key: the function updates in place."""
        upload = aws.s3.BucketObjectv2(
            f"{label}-package",
            bucket=self.bucket_name,
            key=package_key(label),
            source=package,
            content_type="application/zip",
            # S3 checks the upload against it (and takes it as the header Object Lock retention requires).
            checksum_algorithm="SHA256",
            tags=self._tag(f"{label}-package"),
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[self._versioning]),
        )
        job = aws.signer.SigningJob(
            f"{label}-signing",
            profile_name=self.profile_name,
            source={"s3": {"bucket": upload.bucket, "key": upload.key, "version": upload.version_id}},
            destination={"s3": {"bucket": self.bucket_name, "prefix": signed_prefix(label)}},
            # A failed signature fails the deployment instead of handing Lambda an unsigned key.
            ignore_signing_job_failure=False,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        return SignedCode(
            s3_bucket=job.signed_objects.apply(lambda objects: _signed_location(objects)[0]),
            s3_key=job.signed_objects.apply(lambda objects: _signed_location(objects)[1]),
            code_signing_config_arn=self.code_signing_config_arn,
        )


def _signed_location(objects: Sequence[aws.signer.outputs.SigningJobSignedObject]) -> tuple[str, str]:
    """The signed copy's bucket and key (the job writes exactly one)."""
    (signed,) = objects
    (s3,) = signed.s3s or []
    if not s3.bucket or not s3.key:
        raise ValueError(f"the signing job reported no signed object: {objects!r}")
    return s3.bucket, s3.key
