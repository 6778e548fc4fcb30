"""components/signing/policies.py: where packages and signatures live, the Signer profile's name, the artifacts
bucket's lifecycle and policy (pure, no mocks)."""

import pytest

from components.signing.policies import (
    artifact_bucket_policy,
    artifact_lifecycle_rules,
    package_key,
    profile_name_prefix,
    signed_prefix,
)


def test_packages_and_signed_copies_have_separate_prefixes_per_function() -> None:
    assert package_key("cryb-prod-alerts-forwarder") == "unsigned/cryb-prod-alerts-forwarder.zip"
    assert signed_prefix("cryb-prod-alerts-forwarder") == "signed/cryb-prod-alerts-forwarder/"
    assert not signed_prefix("a").startswith(package_key("a").split("/")[0])


def test_a_profile_prefix_uses_only_the_characters_signer_allows() -> None:
    assert profile_name_prefix("cryb-prod-dr-signing") == "cryb_prod_dr_signing_"
    with pytest.raises(ValueError, match="at most 38"):
        profile_name_prefix("cryb-" + "x" * 40)


def test_lifecycle_keeps_current_packages_and_expires_replaced_ones() -> None:
    rules = {rule["id"]: rule for rule in artifact_lifecycle_rules(noncurrent_days=12, abort_days=2)}
    assert all(rule["status"] == "Enabled" for rule in rules.values())
    assert rules["expire-replaced-packages"]["noncurrent_version_expiration"] == {"noncurrent_days": 12}
    assert rules["abort-incomplete-multipart-uploads"]["abort_incomplete_multipart_upload"] == {
        "days_after_initiation": 2
    }
    # nothing expires a current package: a running function's code stays
    assert not any("days" in rule.get("expiration", {}) for rule in rules.values())


def test_the_bucket_policy_refuses_plaintext_and_old_tls() -> None:
    policy = artifact_bucket_policy("arn:aws:s3:::artifacts")
    conditions = [s["Condition"] for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
    assert {"NumericLessThan": {"s3:TlsVersion": "1.2"}} in conditions
    assert not [s for s in policy["Statement"] if s["Effect"] == "Allow"]
