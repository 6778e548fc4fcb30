"""The credentials agent's pure parts (components/selfhosted/credentials_agent/agent.py); its behaviour on a real
Patroni cluster is in tests/real/test_patroni_rotation.py."""

import base64
import json
import subprocess
from pathlib import Path

import pytest
from psycopg import pq

from components.selfhosted.credentials_agent.agent import (
    KEYS,
    LEADER_TAG,
    AgentConfig,
    AgentError,
    Credential,
    alter_role_sql,
    effective_version,
    leader_acknowledgement,
    node_acknowledgement,
    nodes_not_acknowledged,
    render_env,
    render_patroni_secrets,
    scram_verifier,
)
from components.selfhosted.patroni_config import DcsTiming, node_inputs, render_patroni_yml

PASSWORDS = {key: f"{key}Password0123456789" for key in KEYS}


def test_the_scram_verifier_is_the_one_libpq_computes() -> None:
    """Same salt and iterations as libpq's PQencryptPasswordConn: the same StoredKey and ServerKey."""
    conn = pq.PGconn.connect_start(b"host=/nonexistent-socket-dir")  # encrypt_password needs no live server
    reference = conn.encrypt_password(b"Rotated0Password1", b"replicator", b"scram-sha-256").decode()
    iterations, salt = reference.split("$")[1].split(":")
    assert scram_verifier("Rotated0Password1", base64.b64decode(salt), int(iterations)) == reference


def test_a_new_verifier_has_a_new_salt_and_refuses_what_saslprep_would_change() -> None:
    assert scram_verifier("same") != scram_verifier("same")
    for bad in ("", "pässword", "tab\there"):
        with pytest.raises(AgentError, match="printable ASCII"):
            scram_verifier(bad)


def test_alter_role_sends_a_verifier_with_logging_off() -> None:
    sql = alter_role_sql("replicator", "Rotated0Password1")
    assert "Rotated0Password1" not in sql
    assert "SET log_statement = 'none'" in sql and "pg_stat_statements.track_utility = off" in sql
    assert 'ALTER ROLE "replicator" PASSWORD \'SCRAM-SHA-256$4096:' in sql
    with pytest.raises(AgentError, match="not a plain identifier"):
        alter_role_sql('x"; DROP ROLE postgres; --', "pw")


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ({"v1": ["AWSCURRENT"]}, ("v1", False)),
        ({"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}, ("v2", True)),
        ({"v1": ["AWSPREVIOUS"], "v2": ["AWSCURRENT", "AWSPENDING"]}, ("v2", False)),  # finished rotation
    ],
)
def test_the_effective_version(versions: dict[str, list[str]], expected: tuple[str, bool]) -> None:
    assert effective_version(versions) == expected


def test_a_secret_without_a_current_version_is_an_error() -> None:
    with pytest.raises(AgentError, match="no AWSCURRENT"):
        effective_version({"v2": ["AWSPENDING"]})


def credential(key: str, *, pending: bool, tags: dict[str, str] | None = None) -> Credential:
    return Credential(key, f"arn:{key}", key, "pw", "v2", pending, dict(tags or {}))


def test_a_node_acknowledges_a_pending_version_once() -> None:
    assert node_acknowledgement("analytics-a", credential("replication", pending=False)) == {}
    assert node_acknowledgement("analytics-a", credential("restapi", pending=True)) == {
        "cryb-rotation-analytics-a": "v2"
    }
    stale = credential("admin", pending=True, tags={"cryb-rotation-analytics-a": "v1"})
    assert node_acknowledgement("analytics-a", stale) == {"cryb-rotation-analytics-a": "v2"}
    done = credential("admin", pending=True, tags={"cryb-rotation-analytics-a": "v2"})
    assert node_acknowledgement("analytics-a", done) == {}


def test_the_leader_acknowledges_database_roles_only() -> None:
    assert leader_acknowledgement(credential("replication", pending=True)) == {LEADER_TAG: "v2"}
    assert leader_acknowledgement(credential("restapi", pending=True)) == {}  # not a database role
    assert leader_acknowledgement(credential("admin", pending=False)) == {}
    assert leader_acknowledgement(credential("admin", pending=True, tags={LEADER_TAG: "v2"})) == {}


def test_the_leader_waits_for_every_node_before_setting_a_pending_password() -> None:
    nodes = ["analytics-a", "analytics-b", "analytics-c"]
    partly = credential(
        "admin", pending=True, tags={"cryb-rotation-analytics-a": "v2", "cryb-rotation-analytics-c": "v1"}
    )
    assert nodes_not_acknowledged(nodes, partly) == ["analytics-b", "analytics-c"]
    everyone = credential("admin", pending=True, tags={f"cryb-rotation-{n}": "v2" for n in nodes})
    assert nodes_not_acknowledged(nodes, everyone) == []
    # A current version (e.g. after a cancelled rotation) is set at once.
    assert nodes_not_acknowledged(nodes, credential("admin", pending=False)) == []


def test_patroni_merges_the_credentials_file_over_the_rendered_config(tmp_path: Path) -> None:
    """Debian's Patroni (what the nodes run) loads the configuration directory: patroni.yml, then secrets.yml
    (JSON is YAML), merged key by key."""
    inputs = node_inputs(
        scope="analytics",
        hosts=["10.0.0.1", "10.0.1.1", "10.0.2.1"],
        node_index=0,
        instance_type="i4i.large",
        postgres_major="15",
        synchronous_mode=True,
        synchronous_mode_strict=False,
        timing=DcsTiming(ttl=20, loop_wait=5, retry_timeout=7),
        timescaledb=False,
        client_cidrs=["10.0.0.0/16"],
    )
    (tmp_path / "patroni.yml").write_text(render_patroni_yml(inputs))
    (tmp_path / "secrets.yml").write_text(render_patroni_secrets(PASSWORDS))
    loader = (
        "import json, sys; from patroni.config import Config; "
        "print(json.dumps(Config._load_config_path(Config.__new__(Config), sys.argv[1])))"
    )
    result = subprocess.run(["/usr/bin/python3", "-c", loader, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    merged = json.loads(result.stdout)
    auth = merged["postgresql"]["authentication"]
    assert auth["replication"] == {"username": "replicator", "password": PASSWORDS["replication"]}
    assert auth["superuser"] == {"username": "postgres", "password": PASSWORDS["superuser"]}
    assert auth["rewind"] == {"username": "rewind", "password": PASSWORDS["rewind"]}
    assert merged["restapi"]["authentication"] == {"username": "patroni", "password": PASSWORDS["restapi"]}
    assert merged["postgresql"]["data_dir"] == inputs.data_dir  # the rendered file is still all there
    assert render_env(PASSWORDS) == f"CRYB_ADMIN_PASSWORD={PASSWORDS['admin']}\n"


def test_the_config_must_name_every_secret(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    fields = {
        "region": "us-east-1",
        "node": "analytics-a",
        "nodes": ["analytics-a", "analytics-b", "analytics-c"],
        "secrets": {key: f"arn:{key}" for key in KEYS if key != "rewind"},
        "patroni_secrets_file": "/etc/patroni/cryb/secrets.yml",
        "env_file": "/etc/cryb-db/patroni.env",
        "file_group": "postgres",
        "reload_command": ["systemctl", "reload", "cryb-patroni"],
        "restapi_url": "https://10.0.0.1:8008",
        "host": "10.0.0.1",
        "port": 5432,
        "socket_dir": "/var/run/postgresql",
        "database": "analytics",
    }
    path.write_text(json.dumps(fields))
    with pytest.raises(AgentError, match="no secret ARN for rewind"):
        AgentConfig.load(str(path))
    fields["secrets"]["rewind"] = "arn:rewind"
    path.write_text(json.dumps(fields))
    assert AgentConfig.load(str(path)).secrets["rewind"] == "arn:rewind"
