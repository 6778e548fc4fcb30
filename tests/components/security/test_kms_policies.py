"""Key policies: the account administers keys; services use them only through their own service."""

import pytest

from components.security.kms_policies import KEY_PURPOSES, key_policy


@pytest.mark.parametrize("purpose", sorted(KEY_PURPOSES))
def test_no_statement_grants_the_world(purpose: str) -> None:
    policy = key_policy(purpose, "111122223333", "eu-west-1")
    for statement in policy["Statement"]:
        if statement["Principal"] in ({"AWS": "*"}, "*"):
            assert statement["Condition"]["StringEquals"]["kms:CallerAccount"] == "111122223333"
            assert statement["Condition"]["StringEquals"]["kms:ViaService"]
            assert "kms:*" not in statement["Action"]


def test_logs_key_is_usable_only_for_this_accounts_log_groups() -> None:
    policy = key_policy("logs", "111122223333", "eu-west-1")
    (service,) = [s for s in policy["Statement"] if "Service" in s["Principal"]]
    assert service["Principal"]["Service"] == "logs.eu-west-1.amazonaws.com"
    assert service["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        "arn:aws:logs:eu-west-1:111122223333:log-group:*"
    )


def test_data_key_is_limited_to_storage_services() -> None:
    (use,) = [s for s in key_policy("data", "111122223333", "us-east-1")["Statement"] if s["Principal"] == {"AWS": "*"}]
    assert set(use["Condition"]["StringEquals"]["kms:ViaService"]) == {
        "rds.us-east-1.amazonaws.com",
        "elasticache.us-east-1.amazonaws.com",
        "ec2.us-east-1.amazonaws.com",
    }


def test_unknown_purpose_is_rejected() -> None:
    with pytest.raises(ValueError, match="purpose='backup'"):
        key_policy("backup", "111122223333", "us-east-1")
