"""Which servers to check: shard targets from `pulumi stack output --json` (credentials from each shard's
RDS-managed secret, or libpq's environment) or from `--dsn`s. Also used by the analytics command."""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# A Multi-AZ DB cluster has two readable standbys behind one reader endpoint.
CLUSTER_STANDBYS = 2


class Credentials(StrEnum):
    secret = "secret"
    env = "env"


@dataclass(frozen=True)
class Endpoint:
    label: str
    """host:port/db, safe to print."""
    conninfo: str = field(repr=False)
    """libpq conninfo; may hold a password, never printed."""
    password: str = field(default="", repr=False)


@dataclass
class ShardTarget:
    name: str
    writer: Endpoint
    readers: list[Endpoint] = field(default_factory=list)
    expected_replicas: int | None = None


def _label(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    return f"{params.get('host', 'local')}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def _split_endpoint(endpoint: str, default_port: int) -> tuple[str, int]:
    """`host` or `host:port` (an explicit port wins; local test clusters run replicas on other ports)."""
    host, sep, port = endpoint.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() else (endpoint, default_port)


def read_rds_secret(secret_arn: str) -> dict[str, str]:
    """The RDS-managed master secret (`{"username", "password"}`), from the secret's own region."""
    import boto3

    region = secret_arn.split(":")[3]
    text = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)["SecretString"]
    document = json.loads(text)
    return {"username": str(document["username"]), "password": str(document["password"])}


def _endpoint(address: str, shard: Mapping[str, Any], params: Mapping[str, str]) -> Endpoint:
    host, port = _split_endpoint(address, int(shard["port"]))
    conninfo = make_conninfo(host=host, port=port, dbname=shard["databaseName"], **params)
    return Endpoint(f"{host}:{port}/{shard['databaseName']}", conninfo, params.get("password", ""))


def targets_from_outputs(
    outputs: Mapping[str, Any],
    *,
    credentials: Credentials,
    sslmode: str,
    sslrootcert: Path | None,
    secret_reader: Callable[[str], dict[str, str]] = read_rds_secret,
) -> list[ShardTarget]:
    """One target per `postgres.shards[]` entry of `pulumi stack output --json` (or of a preview's `outputs`)."""
    if "postgres" not in outputs and isinstance(outputs.get("outputs"), Mapping):
        outputs = outputs["outputs"]
    try:
        shards = outputs["postgres"]["shards"]
    except (KeyError, TypeError):
        raise typer.BadParameter("no postgres.shards in the outputs file (pulumi stack output --json)") from None
    targets = []
    for shard in shards:
        auth: dict[str, str] = {}
        if credentials == Credentials.secret:
            secret = secret_reader(shard["secretArn"])
            auth = {"user": secret["username"], "password": secret["password"]}
        tls: dict[str, str] = {"sslmode": sslmode}
        if sslrootcert is not None:
            tls["sslrootcert"] = str(sslrootcert)

        readers = list(shard.get("readerEndpoints") or [])
        expected = CLUSTER_STANDBYS if shard.get("topology") == "cluster" else len(readers)
        writer = _endpoint(shard["writerEndpoint"], shard, {**tls, **auth})
        targets.append(
            ShardTarget(str(shard["name"]), writer, [_endpoint(r, shard, {**tls, **auth}) for r in readers], expected)
        )
    return targets


def targets_from_dsns(dsns: Sequence[str], *, expect_replicas: int | None, sslmode: str | None) -> list[ShardTarget]:
    """One shard per `--dsn` (its writer); replicas are seen from the writer's pg_stat_replication."""
    targets = []
    for dsn in dsns:
        conninfo = make_conninfo(dsn, sslmode=sslmode) if sslmode else dsn
        password = str(conninfo_to_dict(conninfo).get("password") or "")
        targets.append(
            ShardTarget(_label(conninfo), Endpoint(_label(conninfo), conninfo, password), [], expect_replicas)
        )
    return targets
