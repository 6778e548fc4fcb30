"""Shards of an outputs file and admin connections to their writers (the instance itself, not the proxy: logical
replication and session settings need it). Credentials from each shard's secret (boto3) or libpq's environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from cryb_db_client.contract import Shard, StackContract, parse, read_outputs
from cryb_db_client.credentials import Credentials, SecretsManager, Static
from cryb_db_client.errors import ContractError


class CredentialSource(StrEnum):
    secret = "secret"
    env = "env"


def credentials_for(source: CredentialSource) -> Credentials:
    if source == CredentialSource.secret:
        return SecretsManager()
    password = os.environ.get("PGPASSWORD")
    if not password:
        raise ValueError("--credentials env: set PGUSER and PGPASSWORD (or use --credentials secret)")
    return Static(os.environ.get("PGUSER", "postgres"), password)


@dataclass
class Shards:
    """The shards of one stack's outputs, with what it takes to log in to their writers."""

    contract: StackContract
    credentials: Credentials
    sslmode: str = "verify-full"
    sslrootcert: Path | None = None
    subscription_sslmode: str = "require"
    subscription_sslrootcert: Path | None = None

    @classmethod
    def from_file(cls, outputs: Path, credentials: Credentials, **tls: object) -> Shards:
        try:
            contract = parse(read_outputs(outputs))
        except ContractError as exc:
            raise ValueError(f"--outputs {outputs}: {exc}") from exc
        return cls(contract, credentials, **tls)  # type: ignore[arg-type]

    def shard(self, shard_id: int) -> Shard:
        return self.contract.shards[shard_id]

    @property
    def ids(self) -> list[int]:
        return sorted(self.contract.shards)

    def _conninfo(self, shard: Shard, sslmode: str, sslrootcert: Path | None) -> str:
        login = self.credentials(shard, shard.direct_writer)
        tls = {"sslmode": sslmode, **({"sslrootcert": str(sslrootcert)} if sslrootcert else {})}
        return make_conninfo(
            host=shard.direct_writer.host,
            port=shard.direct_writer.port,
            dbname=shard.database,
            connect_timeout=10,
            application_name="cryb-db-shards",
            **login,
            **tls,
        )

    def connect(self, shard_id: int) -> psycopg.Connection[TupleRow]:
        """An autocommit admin connection to the shard's writer."""
        return psycopg.connect(self._conninfo(self.shard(shard_id), self.sslmode, self.sslrootcert), autocommit=True)

    def subscription_conninfo(self, source_id: int) -> str:
        """What the target server uses to reach the source (stored in pg_subscription, readable by superusers only)."""
        return self._conninfo(self.shard(source_id), self.subscription_sslmode, self.subscription_sslrootcert)
