"""The credentials agent as the node runs it: the shipped file alone (copied out of the repository, so it cannot
lean on `components`), from its JSON configuration, against a moto server standing in for Secrets Manager."""

import http.server
import json
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.selfhosted.credentials_agent import AGENT_FILE
from components.selfhosted.credentials_agent.agent import KEYS
from tests.servers.postgres import PostgresFactory

pytestmark = pytest.mark.servers

USERS = {"superuser": "postgres", "replication": "replicator", "rewind": "rewind", "restapi": "patroni", "admin": "a"}


def write_config(tmp_path: Path, moto_server: str, arns: dict[str, str], **overrides: Any) -> Path:
    (tmp_path / "patroni").mkdir(exist_ok=True)
    config = {
        "region": "us-east-1",
        "node": "analytics-a",
        "nodes": ["analytics-a", "analytics-b", "analytics-c"],
        "secrets": arns,
        "patroni_secrets_file": str(tmp_path / "patroni" / "secrets.yml"),
        "env_file": str(tmp_path / "patroni.env"),
        "file_group": "postgres",
        "reload_command": ["true"],
        "restapi_url": "http://127.0.0.1:9",  # nothing listens: this node is not the leader
        "host": "127.0.0.1",
        "port": 5432,
        "socket_dir": str(tmp_path),
        "database": "cryb",
        "endpoint_url": moto_server,
        **overrides,
    }
    path = tmp_path / "credentials-agent.json"
    path.write_text(json.dumps(config))
    return path


def run_agent(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shipped = tmp_path / "bin" / "cryb-pg-credentials"
    shipped.parent.mkdir(exist_ok=True)
    shutil.copy(AGENT_FILE, shipped)
    return subprocess.run(
        [sys.executable, "-I", str(shipped), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


@pytest.fixture
def arns(moto_server: str) -> dict[str, str]:
    client = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    return {
        key: client.create_secret(
            Name=f"cryb-db/analytics/{key}",
            SecretString=json.dumps({"username": USERS[key], "password": f"First{key}Password0000"}),
        )["ARN"]
        for key in KEYS
    }


def test_at_boot_the_agent_writes_patronis_credentials_only(tmp_path: Path, moto_server: str, arns: dict) -> None:
    config = write_config(tmp_path, moto_server, arns, reload_command=["false"])  # a reload would fail the boot
    result = run_agent(tmp_path, config, "--boot")
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "patroni" / "secrets.yml").read_text())
    assert written["postgresql"]["authentication"]["replication"]["password"] == "FirstreplicationPassword0000"
    assert written["restapi"]["authentication"]["password"] == "FirstrestapiPassword0000"
    assert (tmp_path / "patroni.env").read_text() == "CRYB_ADMIN_PASSWORD=FirstadminPassword0000\n"
    assert stat.S_IMODE((tmp_path / "patroni" / "secrets.yml").stat().st_mode) == 0o640
    assert "Password0000" not in result.stderr + result.stdout  # logs name files, never values


def test_a_pending_version_is_applied_and_acknowledged(tmp_path: Path, moto_server: str, arns: dict) -> None:
    client = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    config = write_config(tmp_path, moto_server, arns)
    assert run_agent(tmp_path, config, "--boot").returncode == 0
    client.put_secret_value(
        SecretId=arns["restapi"],
        ClientRequestToken="0f5a3c1e-0000-4000-8000-000000000001",
        SecretString=json.dumps({"username": "patroni", "password": "RotatedPassword0000"}),
        VersionStages=["AWSPENDING"],
    )
    result = run_agent(tmp_path, config)
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "patroni" / "secrets.yml").read_text())
    assert written["restapi"]["authentication"]["password"] == "RotatedPassword0000"
    tags = {t["Key"]: t["Value"] for t in client.describe_secret(SecretId=arns["restapi"]).get("Tags", [])}
    assert tags == {"cryb-rotation-analytics-a": "0f5a3c1e-0000-4000-8000-000000000001"}
    assert "Patroni REST API not answering" in result.stderr  # not the leader: no database work attempted


def test_a_config_without_every_secret_fails_naming_it(tmp_path: Path, moto_server: str, arns: dict) -> None:
    config = write_config(tmp_path, moto_server, {k: v for k, v in arns.items() if k != "rewind"})
    result = run_agent(tmp_path, config, "--boot")
    assert result.returncode == 1
    assert "ERROR" in result.stderr and "no secret ARN for rewind" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "patroni" / "secrets.yml").exists()  # nothing written


def test_secrets_manager_unreachable_is_a_logged_failure(tmp_path: Path, moto_server: str, arns: dict) -> None:
    config = write_config(tmp_path, moto_server, arns, endpoint_url="http://127.0.0.1:9")  # nothing listens
    result = run_agent(tmp_path, config, "--boot")
    assert result.returncode == 1
    assert "Secrets Manager: Could not connect" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "patroni" / "secrets.yml").exists()


class _LeaderOnce(http.server.BaseHTTPRequestHandler):
    """A Patroni REST API whose node is the leader on the first question and demoted after it (a failover)."""

    asked = 0

    def do_GET(self) -> None:
        type(self).asked += 1
        self.send_response(200 if type(self).asked == 1 else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_leader_that_cannot_write_yet_or_any_more_leaves_the_password_to_the_next_run(
    tmp_path: Path, moto_server: str, arns: dict, postgres_factory: PostgresFactory
) -> None:
    primary = postgres_factory.create(name="agent-primary", hba=["local all postgres peer"])
    primary.execute("CREATE ROLE a LOGIN PASSWORD 'an-older-password-0000'")
    standby = postgres_factory.create(name="agent-standby", replica_of=primary)  # read-only, as a demoted node
    server = http.server.HTTPServer(("127.0.0.1", 0), _LeaderOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = write_config(
            tmp_path, moto_server, arns,
            restapi_url=f"http://127.0.0.1:{server.server_address[1]}",
            host=standby.info.host, port=standby.info.port, socket_dir=str(standby.info.socket_dir),
        )  # fmt: skip
        result = run_agent(tmp_path, config)
    finally:
        server.shutdown()
    assert "read-only transaction" in result.stderr  # it did try, on a node that could no longer write
    assert result.returncode == 0, result.stderr
    assert "not the writable leader right now" in result.stderr
