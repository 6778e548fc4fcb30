"""The `analytics` command without a server (scripts/analytics/command.py, connections.py): where it connects
and what it refuses before connecting."""

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from scripts.analytics.command import analytics_app
from scripts.analytics.connections import conninfo_from_outputs
from scripts.analytics.errors import MigrationError
from scripts.health.targets import Credentials

OUTPUTS = {
    "outputs": {
        "selfhosted": {
            "clusters": [
                {
                    "name": "analytics",
                    "writerEndpoint": "writer.analytics.prod.cryb-db.internal",
                    "port": 5432,
                    "databaseName": "cryb",
                    "secretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:admin",
                }
            ]
        }
    }
}


def test_the_analytics_cluster_writer_and_its_admin_secret_make_the_connection() -> None:
    seen = []

    def reader(arn: str) -> dict[str, str]:
        seen.append(arn)
        return {"username": "cryb_admin", "password": "s3cret"}

    conninfo = conninfo_from_outputs(
        OUTPUTS, "analytics", credentials=Credentials.secret, sslmode="require", sslrootcert=None, secret_reader=reader
    )
    assert conninfo_to_dict(conninfo) == {
        "host": "writer.analytics.prod.cryb-db.internal",
        "port": "5432",
        "dbname": "cryb",
        "sslmode": "require",
        "user": "cryb_admin",
        "password": "s3cret",
    }
    assert seen == ["arn:aws:secretsmanager:us-east-1:111122223333:secret:admin"]


def test_an_unknown_cluster_is_refused_listing_the_clusters() -> None:
    refused = r"--cluster: 'events' is not in selfhosted.clusters \(allowed: analytics\)"
    with pytest.raises(MigrationError, match=refused):
        conninfo_from_outputs(OUTPUTS, "events", credentials=Credentials.env, sslmode="require", sslrootcert=None)


BAD_RETENTION = ("--retention-days", "5", "--compress-after-days", "9")


def test_bad_parameters_are_refused_before_connecting() -> None:
    """The DSN points nowhere: exit 2 with the parameter named proves nothing was attempted first."""
    result = CliRunner().invoke(
        analytics_app,
        ["migrate", "--dsn", "host=203.0.113.1 connect_timeout=1", *BAD_RETENTION],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2, result.output
    assert "compress_after_days: 9 is not allowed (allowed: less than retention_days, 5" in result.output
    assert "connect" not in result.output


def test_dsn_and_outputs_together_are_refused(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    result = CliRunner().invoke(analytics_app, ["status", "--dsn", "host=x", "--outputs", str(outputs)])
    assert result.exit_code == 2
    assert "give either --outputs FILE or --dsn DSN" in result.output


def test_both_commands_exist() -> None:
    result = CliRunner().invoke(analytics_app, ["--help"])
    assert result.exit_code == 0
    assert "migrate" in result.output and "status" in result.output


def test_a_cluster_entry_without_connection_fields_is_refused_naming_them() -> None:
    entry = {"name": "analytics", "writerEndpoint": "writer", "port": 5432}
    with pytest.raises(MigrationError, match=r"selfhosted.clusters\[analytics\] has no databaseName, secretArn"):
        conninfo_from_outputs(
            {"selfhosted": {"clusters": [entry]}},
            "analytics",
            credentials=Credentials.env,
            sslmode="require",
            sslrootcert=None,
        )


LOCAL_DEV_OUTPUTS = {
    "selfhosted": {"clusters": []},
    "postgres": {
        "shards": [
            {
                "name": "cryb-dev-pg-00",
                "writerEndpoint": "127.1.0.1",
                "port": 5433,
                "databaseName": "cryb",
                "secretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:shard-admin",
            }
        ]
    },
}


def test_a_stack_without_an_analytics_cluster_migrates_the_named_shard() -> None:
    conninfo = conninfo_from_outputs(
        LOCAL_DEV_OUTPUTS, "analytics", credentials=Credentials.secret, sslmode="require", sslrootcert=None,
        secret_reader=lambda arn: {"username": "cryb_admin", "password": arn[-5:]}, shard="cryb-dev-pg-00",
    )  # fmt: skip
    assert conninfo_to_dict(conninfo) == {
        "host": "127.1.0.1", "port": "5433", "dbname": "cryb", "sslmode": "require",
        "user": "cryb_admin", "password": "admin",
    }  # fmt: skip


def test_without_an_analytics_cluster_the_cluster_is_refused_and_the_shard_named() -> None:
    with pytest.raises(MigrationError, match=r"--cluster: 'analytics' is not in selfhosted.clusters \(allowed: none\)"):
        conninfo_from_outputs(
            LOCAL_DEV_OUTPUTS, "analytics", credentials=Credentials.env, sslmode="require", sslrootcert=None
        )
    with pytest.raises(MigrationError, match=r"--shard: 'pg-01' is not in postgres.shards \(allowed: cryb-dev-pg-00\)"):
        conninfo_from_outputs(
            LOCAL_DEV_OUTPUTS, "analytics", credentials=Credentials.env, sslmode="require", sslrootcert=None,
            shard="pg-01",
        )  # fmt: skip
    with pytest.raises(MigrationError, match=r"no selfhosted.clusters .* --shard NAME targets a postgres.shards"):
        conninfo_from_outputs({"postgres": {}}, "x", credentials=Credentials.env, sslmode="require", sslrootcert=None)
