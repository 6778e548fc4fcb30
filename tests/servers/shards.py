"""Three (or more) PostgreSQL 15 shards on loopback as a cryb-db stack's outputs describe them: TLS with a test CA
(clients verify-full), wal_level=logical, the admin passwords in Secrets Manager (moto), and an outputs file in the
contract of docs/outputs.md whose shard map spans `map_shards` of them (the others are new, empty shards).

Used by tests/real/test_shard_moves.py and `python -m scripts bench shard-move`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from components.postgres import shard_map
from cryb_db_client.credentials import SecretsManager
from scripts.servers.moto import DUMMY_AWS_ENV, MotoServer
from scripts.servers.moto_tls import TlsFiles, write_certificates
from scripts.servers.process import chown_tree, make_workdir, remove_workdir, service_user

from .postgres import PostgresFactory, PostgresServer

DATABASE = "app"
LOGICAL_SETTINGS: dict[str, str | int | bool] = {
    "wal_level": "logical",
    "max_replication_slots": 20,
    "max_wal_senders": 20,
    "max_logical_replication_workers": 8,
    "max_sync_workers_per_subscription": 2,
    "wal_receiver_status_interval": 1,
    "wal_retrieve_retry_interval": "200ms",  # table sync workers start sooner (Patroni nodes run 1 s)
    "max_connections": 80,
}
SCHEMA = """
create table if not exists items (
    bucket integer not null,
    id bigint not null,
    key text not null,
    payload text not null,
    primary key (bucket, id)
);
create table if not exists profiles (
    bucket integer not null,
    user_key text not null,
    name text not null,
    primary key (bucket, user_key)
);
create table if not exists countries (code text primary key, name text not null);
"""


def stack_outputs(
    shards: list[tuple[int, str, str]],
    *,
    map_shards: int,
    region: str = "us-east-1",
    environment: str = "dev",
    bucket_count: int = shard_map.DEFAULT_BUCKET_COUNT,
) -> dict[str, Any]:
    """Outputs in the contract's shape for shards given as (port, secret ARN, database)."""
    routing = shard_map.document(bucket_count, map_shards)
    ranges = {r["shard"]: r for r in routing["ranges"]}
    return {
        "environment": environment,
        "region": region,
        "postgres": {
            "engine": "rds-postgresql",
            "engineVersion": "15",
            "topology": "instance",
            "shardMap": routing,
            "shards": [
                {
                    "id": index,
                    "name": f"shard{index}",
                    "topology": "instance",
                    "writerEndpoint": f"127.0.0.1:{port}",
                    "readerEndpoints": [],
                    "proxyEndpoint": f"127.0.0.1:{port}",
                    "port": port,
                    "proxyPort": port,
                    "databaseName": database,
                    "secretArn": arn,
                    "iamAuthentication": False,
                    "region": region,
                    "bucketRange": {"first": ranges[index]["first"], "last": ranges[index]["last"]}
                    if index in ranges
                    else None,
                    "shardMapVersion": routing["version"],
                }
                for index, (port, arn, database) in enumerate(shards)
            ],
        },
    }


@dataclass
class ShardRig:
    servers: list[PostgresServer]
    tls: TlsFiles
    outputs_path: Path
    outputs: dict[str, Any]
    aws_env: Mapping[str, str]
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def connect(self, index: int) -> Any:
        return self.servers[index].connect(dbname=DATABASE, autocommit=True)

    def secrets_manager(self) -> SecretsManager:
        """The router's Secrets Manager credentials, reading this rig's moto in any region."""

        def client(region: str) -> object:
            return boto3.client(
                "secretsmanager",
                region_name=region,
                endpoint_url=self.aws_env["AWS_ENDPOINT_URL"],
                aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            )

        return SecretsManager(client_factory=client)

    def cli_env(self) -> dict[str, str]:
        """Environment for `python -m scripts shards ...` subprocesses: moto as AWS, nothing of the caller's PG*."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return {**env, **self.aws_env, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def cli_args(self, command: str) -> list[str]:
        """The options of `shards COMMAND` for this rig (only `move` takes the subscription's TLS)."""
        args = [
            "--outputs", str(self.outputs_path),
            "--credentials", "secret",
            "--sslmode", "verify-full",
            "--sslrootcert", str(self.tls.ca_file),
        ]  # fmt: skip
        if command == "move":
            args += ["--subscription-sslmode", "verify-full", "--subscription-sslrootcert", str(self.tls.ca_file)]
        return args


@contextmanager
def shard_rig(moto: MotoServer, count: int = 3, map_shards: int = 2, region: str = "us-east-1") -> Iterator[ShardRig]:
    """`count` shards, the map over the first `map_shards`; schema applied on all; secrets in `moto`."""
    import boto3

    aws_env = {**DUMMY_AWS_ENV, "AWS_ENDPOINT_URL": moto.endpoint_url, "AWS_DEFAULT_REGION": region}
    os_user = service_user("postgres")
    workdir = make_workdir("cryb-shards-", os_user)
    factory = PostgresFactory()
    try:
        tls = write_certificates(workdir)
        chown_tree(workdir, os_user)
        settings = {
            **LOGICAL_SETTINGS,
            "ssl": True,
            "ssl_cert_file": str(tls.cert_file),
            "ssl_key_file": str(tls.key_file),
        }
        servers = [factory.create(name=f"shard{i}", settings=settings) for i in range(count)]
        secrets = boto3.client(
            "secretsmanager",
            region_name=region,
            endpoint_url=moto.endpoint_url,
            aws_access_key_id=DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        arns = []
        for i, server in enumerate(servers):
            server.execute(f"create database {DATABASE}")
            with server.connect(dbname=DATABASE, autocommit=True) as conn:
                conn.execute(SCHEMA)
            secret = json.dumps({"username": server.info.user, "password": server.info.password})
            name = f"rds!db-{workdir.name}-shard{i}"
            arns.append(secrets.create_secret(Name=name, SecretString=secret)["ARN"])
        outputs = stack_outputs(
            [(s.info.port, arn, DATABASE) for s, arn in zip(servers, arns, strict=True)],
            map_shards=map_shards,
            region=region,
        )
        outputs_path = workdir / "outputs.json"
        outputs_path.write_text(json.dumps(outputs, indent=2))
        yield ShardRig(servers, tls, outputs_path, outputs, aws_env, workdir)
    finally:
        factory.close()
        remove_workdir(workdir)
