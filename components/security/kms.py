"""Customer-managed KMS keys, one per purpose, each rotating automatically."""

import json
from collections.abc import Mapping, Sequence
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from components.security.kms_policies import KEY_PURPOSES, key_policy


class KmsKeysArgs(TypedDict):
    """Inputs of KmsKeys."""

    purposes: Sequence[str]
    """Which keys to create, from `kms_policies.KEY_PURPOSES` (e.g. `logs`, `data`)."""
    account_id: str
    """AWS account that administers the keys."""
    region: str
    """Region of the keys; service principals in the key policies are regional."""
    deletion_window_days: int
    """Days a key waits before deletion once scheduled (7-30)."""
    rotation_period_days: int
    """Automatic rotation period in days (90-2560)."""
    tags: Mapping[str, str]
    """Tags on every key and alias."""


class KmsKeys(pulumi.ComponentResource):
    """One customer-managed key and alias per purpose; `arns[purpose]` is what other components encrypt with."""

    arns: dict[str, pulumi.Output[str]]
    keys: dict[str, aws.kms.Key]

    def __init__(self, name: str, args: KmsKeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cryb:kms:KmsKeys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.keys = {}
        for purpose in args["purposes"]:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"cryb-db {name}: {KEY_PURPOSES[purpose]}",
                enable_key_rotation=True,
                rotation_period_in_days=args["rotation_period_days"],
                deletion_window_in_days=args["deletion_window_days"],
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                policy=json.dumps(key_policy(purpose, args["account_id"], args["region"])),
                tags={**args["tags"], "Name": f"{name}-{purpose}", "purpose": purpose},
                opts=child,
            )
            aws.kms.Alias(
                f"{name}-{purpose}-alias", name=f"alias/{name}-{purpose}", target_key_id=key.key_id, opts=child
            )
            self.keys[purpose] = key
        self.arns = {purpose: key.arn for purpose, key in self.keys.items()}
        self.register_outputs({"arns": self.arns})
