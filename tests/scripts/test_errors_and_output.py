"""What every command shares (scripts/cli, README.md#exit-codes), as users get it through `python -m scripts` with
stdout and stderr piped: usage errors exit 64 and environment errors 69, each in one line without a traceback and
as a JSON error document under `--json`; output to a pipe is not cut to a terminal's width."""

import json
import os
from pathlib import Path

from scripts.cli.exits import ENVIRONMENT, USAGE
from tests.cli import run_cli

# A shard as `pulumi stack output --json` lists it (docs/outputs.md): enough for health to look for its secret.
OUTPUTS = {
    "postgres": {
        "shards": [
            {
                "id": 0,
                "name": "cryb-prod-pg-00",
                "topology": "instance",
                "writerEndpoint": "cryb-prod-pg-00.c0ffee0example.us-east-1.rds.amazonaws.com",
                "readerEndpoints": [],
                "port": 5433,
                "databaseName": "cryb",
                "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0",
                "region": "us-east-1",
            }
        ]
    },
    "selfhosted": {"clusters": []},
}


def no_aws_credentials(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    missing = str(tmp_path / "none")
    env.update(
        AWS_CONFIG_FILE=missing,
        AWS_SHARED_CREDENTIALS_FILE=missing,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


def test_missing_aws_credentials_are_an_environment_error_in_one_line(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(OUTPUTS))
    done = run_cli("health", "--outputs", str(outputs), "--json", env=no_aws_credentials(tmp_path), timeout=120)
    assert done.returncode == ENVIRONMENT == 69
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: no usable AWS credentials") and "aws sso login" in line
    assert json.loads(done.stdout)["error"] | {"message": ""} == {"kind": "environment", "message": "", "exitCode": 69}


def test_analytics_without_aws_credentials_is_not_a_changed_file(tmp_path: Path) -> None:
    """analytics status's exit 1 means a recorded file changed; no credentials is something else."""
    outputs = tmp_path / "outputs.json"
    cluster = {**OUTPUTS["postgres"]["shards"][0], "name": "analytics", "engine": "patroni-postgresql"}
    outputs.write_text(json.dumps({"selfhosted": {"clusters": [cluster]}}))
    done = run_cli("analytics", "status", "--outputs", str(outputs), env=no_aws_credentials(tmp_path), timeout=120)
    assert done.returncode == ENVIRONMENT, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_usage_errors_exit_64_with_the_json_error_document() -> None:
    done = run_cli("preview", "--stack", "prod", "--json", "--bogus", timeout=120)
    assert done.returncode == USAGE == 64
    assert done.stderr.startswith("error: No such option: --bogus") and len(done.stderr.splitlines()) == 1
    assert json.loads(done.stdout)["error"]["kind"] == "usage"
    unknown = run_cli("no-such-command", timeout=120)
    assert unknown.returncode == USAGE and "No such command 'no-such-command'" in unknown.stderr


def test_piped_output_keeps_every_value_whole() -> None:
    """rich cuts cells to fit 80 columns (`127.0…`) unless it knows the output is not a terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # as in CI
    for columns in (None, ""):
        done = run_cli("preview", "--stack", "prod", env=env if columns is None else {**env, "COLUMNS": columns})
        assert done.returncode == 0, done.stderr
        assert "…" not in done.stdout
        lines = done.stdout.splitlines()
        # whole values: the longest type token of the stack, and an ARN of the outputs, each on one line
        for value in (
            "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-cryb-prod-pg-00-AbCdEf",
        ):
            assert any(value in line for line in lines), value


def test_the_drill_help_names_what_shard_takes() -> None:
    done = run_cli("dr-drill", "--help", timeout=120)
    assert done.returncode == 0 and "cryb-prod-pg-00" in done.stdout and "(e.g. 0)" in done.stdout


NETWORK = {"dbSubnetGroupName": "cryb-prod-db", "securityGroupIds": {"postgres": "sg-0123456789abcdef0"}}


def test_the_drill_without_aws_credentials_stops_before_the_drill(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**OUTPUTS, "region": "us-east-1", "network": NETWORK}))
    reports = tmp_path / "reports"
    args = ("dr-drill", "--outputs", str(outputs), "--report-dir", str(reports))
    done = run_cli(*args, env=no_aws_credentials(tmp_path))
    assert done.returncode == ENVIRONMENT and done.stderr.startswith("error: no usable AWS credentials")
    assert not reports.exists()  # no report of a drill that never started
