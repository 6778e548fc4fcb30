"""`scripts roles` pure parts: targets from the outputs file, and the role statements."""

import pytest

from components.postgres.roles import ROLE_NAMES, role_script, role_statements
from scripts.roles.plan import OutputsError, targets_from_outputs

ROLES = {role: f"arn:aws:secretsmanager:us-east-1:1:secret:{role}" for role in ROLE_NAMES}
SHARD = {
    "name": "cryb-prod-pg-00",
    "writerEndpoint": "w.example",
    "port": 6432,
    "databaseName": "cryb",
    "secretArn": "arn:admin",
    "roleSecretArns": ROLES,
}


def test_every_shard_and_cluster_is_a_target() -> None:
    cluster = {**SHARD, "name": "cryb-prod-analytics", "writerEndpoint": "a.example:7000"}
    targets = targets_from_outputs({"postgres": {"shards": [SHARD]}, "selfhosted": {"clusters": [cluster]}})
    assert [(t.name, t.host, t.port) for t in targets] == [
        ("cryb-prod-pg-00", "w.example", 6432),
        ("cryb-prod-analytics", "a.example", 7000),
    ]
    assert targets[0].role_secret_arns == ROLES
    # A preview's JSON document holds the outputs under `outputs`.
    assert targets_from_outputs({"outputs": {"postgres": {"shards": [SHARD]}}})[0].database == "cryb"


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({}, "no postgres.shards or selfhosted.clusters"),
        ({"postgres": {"shards": [{**SHARD, "roleSecretArns": None}]}}, "postgres.shards[0]: no roleSecretArns"),
        (
            {"postgres": {"shards": [{**SHARD, "roleSecretArns": {"app": "x"}}]}},
            "postgres.shards[0].roleSecretArns: has ['app']",
        ),
    ],
)
def test_an_outputs_file_without_what_is_needed_names_the_field(outputs: dict, message: str) -> None:
    with pytest.raises(OutputsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        targets_from_outputs(outputs)


def test_statements_are_idempotent_guards_and_carry_no_password() -> None:
    statements = role_statements("cryb")
    creates = [s for s in statements if "CREATE ROLE" in s]
    assert len(creates) == len(ROLE_NAMES) and all("IF NOT EXISTS" in s for s in creates)
    assert not any("PASSWORD" in s for s in statements)
    assert role_script("cryb").count(";\n") == len(statements)
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        role_statements("cryb; DROP DATABASE x")
