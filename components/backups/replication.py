"""S3 replication of a KMS-encrypted, versioned bucket to its copy in another region (S3.7): the replication role,
its least-privilege policy (components/backups/policies.py) and the replication configuration. Declared by the
backup buckets and the signed-artifact buckets (components/signing); children are named from `label`."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.backups.policies import replication_role_policy, service_trust_policy


@dataclass(frozen=True)
class ReplicatedBucket:
    """One end of a replication."""

    arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    region: str
    versioning: pulumi.Resource
    """Its versioning: S3 accepts a replication configuration only once versioning is on at both ends."""


def declare_replication(
    label: str,
    *,
    source_bucket_id: pulumi.Input[str],
    source: ReplicatedBucket,
    replica: ReplicatedBucket,
    rule_id: str,
    description: str,
    account_id: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    replication_time_control: bool = False,
) -> pulumi.Output[str]:
    """Declare `{label}-role`, `{label}-role-policy` and `{label}` (the configuration); return the role's ARN.
    Everything is replicated, deletion markers are not (deleting in the source must never hide the copy)."""
    role = aws.iam.Role(
        f"{label}-role",
        description=description,
        assume_role_policy=pulumi.Output.from_input(source.arn).apply(
            lambda arn: json.dumps(service_trust_policy("s3.amazonaws.com", account_id, arn))
        ),
        tags={**tags, "Name": f"{label}-role"},
        opts=opts,
    )
    aws.iam.RolePolicy(
        f"{label}-role-policy",
        role=role.id,
        policy=pulumi.Output.all(source.arn, replica.arn, source.kms_key_arn, replica.kms_key_arn).apply(
            lambda a: json.dumps(
                replication_role_policy(
                    source_bucket_arn=a[0],
                    destination_bucket_arn=a[1],
                    source_key_arn=a[2],
                    destination_key_arn=a[3],
                    source_region=source.region,
                    destination_region=replica.region,
                )
            )
        ),
        opts=opts,
    )
    destination: aws.s3.BucketReplicationConfigRuleDestinationArgsDict = {
        "bucket": replica.arn,
        "encryption_configuration": {"replica_kms_key_id": replica.kms_key_arn},
    }
    if replication_time_control:
        destination["replication_time"] = {"status": "Enabled", "time": {"minutes": 15}}
        destination["metrics"] = {"status": "Enabled", "event_threshold": {"minutes": 15}}
    depends_on: Sequence[pulumi.Resource] = [source.versioning, replica.versioning]
    aws.s3.BucketReplicationConfig(
        label,
        bucket=source_bucket_id,
        role=role.arn,
        rules=[
            {
                "id": rule_id,
                "status": "Enabled",
                "priority": 1,
                "filter": {},
                "delete_marker_replication": {"status": "Disabled"},
                "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                "destination": destination,
            }
        ],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(depends_on))),
    )
    return role.arn
