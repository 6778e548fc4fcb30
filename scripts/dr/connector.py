"""How the drill opens database sessions: the endpoint it asks for (a shard's primary or its restored scratch
instance) and the production connector (credentials from the instance's Secrets Manager secret, TLS always). Tests
inject their own connector."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from .planning import OutputsError

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Endpoint:
    """What a connector needs to open a session; `restored_to` is set for the scratch instance."""

    role: Literal["primary", "restored"]
    shard: str
    instance_identifier: str
    host: str
    port: int
    database: str
    secret_arn: str | None
    restored_to: datetime | None = None


Connector = Callable[[Endpoint], "psycopg.Connection[Any]"]


def secrets_manager_connector(
    session: Any, *, sslrootcert: Path | None = None, connect_timeout: int = 10, retry_seconds: float = 300
) -> Connector:
    """Production connector: credentials from the instance's Secrets Manager secret, TLS always.

    A new instance's DNS name and RDS-managed secret can take a few minutes to answer, hence the retries.
    """
    import psycopg
    from botocore.exceptions import ClientError

    client = session.client("secretsmanager")

    def connect(endpoint: Endpoint) -> psycopg.Connection[Any]:
        if not endpoint.secret_arn:
            raise OutputsError(f"{endpoint.shard}: no secretArn for {endpoint.instance_identifier}")
        secret_arn = endpoint.secret_arn
        retrying = Retrying(
            stop=stop_after_delay(retry_seconds),
            wait=wait_fixed(10),
            retry=retry_if_exception(lambda e: isinstance(e, psycopg.OperationalError | ClientError)),
            reraise=True,
        )

        def attempt() -> psycopg.Connection[Any]:
            secret = json.loads(client.get_secret_value(SecretId=secret_arn)["SecretString"])
            return psycopg.connect(
                host=endpoint.host,
                port=endpoint.port,
                dbname=endpoint.database,
                user=secret["username"],
                password=secret["password"],
                sslmode="verify-full" if sslrootcert else "require",
                sslrootcert=str(sslrootcert) if sslrootcert else None,
                connect_timeout=connect_timeout,
                application_name="cryb-dr-drill",
                autocommit=True,
            )

        return retrying(attempt)

    return connect
