"""The secrets role's documents (pure)."""

import json

import pytest

from components.kubernetes.iam_documents import irsa_trust, oidc_issuer, pod_identity_trust, read_secrets_policy

OIDC = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"


def test_irsa_trust_is_one_service_account_with_an_sts_audience() -> None:
    (statement,) = json.loads(irsa_trust(OIDC, "api", "cryb-db-secrets"))["Statement"]
    assert statement["Principal"] == {"Federated": OIDC}
    assert statement["Condition"]["StringEquals"] == {
        "oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:api:cryb-db-secrets",
        "oidc.eks.us-east-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
    }
    with pytest.raises(ValueError, match="not an IAM OIDC provider ARN"):
        oidc_issuer("arn:aws:iam::1:role/x")


def test_pod_identity_trust_is_the_controller_role_only() -> None:
    (statement,) = json.loads(pod_identity_trust("arn:aws:iam::1:role/eso"))["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::1:role/eso"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]


def test_read_policy_names_each_secret_and_decrypts_only_through_secrets_manager() -> None:
    read, decrypt = json.loads(read_secrets_policy(["arn:b", "arn:a", "arn:a"], "arn:key", "eu-west-1"))["Statement"]
    assert read["Resource"] == ["arn:a", "arn:b"] and "*" not in json.dumps(read)
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    with pytest.raises(ValueError, match="at least one secret"):
        read_secrets_policy([], "arn:key", "eu-west-1")
