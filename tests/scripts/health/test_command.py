"""The `health` command's arguments, no database (scripts/health/command.py, targets.py)."""

import json
from pathlib import Path

import pytest

from scripts import PROJECT_DIR
from scripts.cli.exits import USAGE
from scripts.health.targets import Credentials, targets_from_outputs
from scripts.health.thresholds import threshold_keys
from tests.cli import run_cli

OUTPUTS = {
    "postgres": {
        "shards": [
            {
                "name": "cryb-prod-pg-00",
                "topology": "instance",
                "writerEndpoint": "w0.example",
                "readerEndpoints": ["r0.example", "r1.example:6000"],
                "port": 5433,
                "databaseName": "cryb",
                "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0",
            },
            {
                "name": "cryb-prod-pg-01",
                "topology": "cluster",
                "writerEndpoint": "c1.example",
                "readerEndpoints": ["c1-ro.example"],
                "port": 5433,
                "databaseName": "cryb",
                "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1",
            },
        ]
    }
}


def test_targets_from_stack_outputs_use_each_shards_secret() -> None:
    read: list[str] = []

    def secret(arn: str) -> dict[str, str]:
        read.append(arn)
        return {"username": "cryb_admin", "password": f"pw-{arn[-1]}"}

    preview_document = {"outputs": OUTPUTS}  # `preview --json` wraps the outputs
    targets = targets_from_outputs(
        preview_document, credentials=Credentials.secret, sslmode="verify-full", sslrootcert=None, secret_reader=secret
    )
    assert [(t.name, t.expected_replicas) for t in targets] == [("cryb-prod-pg-00", 2), ("cryb-prod-pg-01", 2)]
    assert [r.label for r in targets[0].readers] == ["r0.example:5433/cryb", "r1.example:6000/cryb"]
    assert "sslmode=verify-full" in targets[0].writer.conninfo and "password=pw-0" in targets[0].writer.conninfo
    assert "pw-0" not in repr(targets[0])
    assert len(read) == 2
    env = targets_from_outputs(OUTPUTS, credentials=Credentials.env, sslmode="require", sslrootcert=None)
    assert "password" not in env[0].writer.conninfo  # libpq reads PGPASSWORD / .pgpass


@pytest.mark.parametrize(
    ("args", "message"),
    [([], "either --outputs"), (["--outputs", "OUT", "--dsn", "host=x"], "either --outputs")],
)
def test_exactly_one_source_is_required(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "outputs.json"
    out.write_text(json.dumps(OUTPUTS))
    done = run_cli("health", *[a.replace("OUT", str(out)) for a in args])
    assert done.returncode == USAGE and message in done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_invalid_thresholds_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("xidAge: {warning: 10, critical: 5}\nreplicaLagSecond: {warning: 1, critical: 2}\n")
    done = run_cli("health", "--json", "--dsn", "host=127.0.0.1 port=1", "--thresholds", str(bad))
    assert done.returncode == USAGE
    assert "xidAge = {'warning': 10, 'critical': 5}: Value error, critical (5) must be >= warning (10)" in done.stderr
    assert "replicaLagSecond: unknown key (did you mean 'replicaLagSeconds'? keys: replicaLagBytes," in done.stderr
    assert len(done.stderr.splitlines()) == 1
    error = json.loads(done.stdout)["error"]
    assert (error["kind"], error["exitCode"]) == ("usage", USAGE) and "replicaLagSecond" in error["message"]


def test_every_threshold_key_is_documented() -> None:
    text = (PROJECT_DIR / "docs" / "monitoring.md").read_text()
    assert [key for key in threshold_keys() if f"`{key}`" not in text] == []
