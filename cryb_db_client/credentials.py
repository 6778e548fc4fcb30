"""How the router logs in to a shard: an IAM auth token (boto3, when the shard accepts IAM), the password of the
shard's Secrets Manager secret (boto3), or what the caller hands in (libpq's environment, a local test server).

Each pool asks again for every new connection, so rotated secrets and 15-minute IAM tokens are picked up without
a restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .contract import Endpoint, Shard

SECRET_CACHE_SECONDS = 60.0


class Credentials(Protocol):
    def __call__(self, shard: Shard, endpoint: Endpoint) -> Mapping[str, str]:
        """libpq keywords (`user`, `password`) for a new connection to `endpoint` of `shard`."""
        ...


@dataclass
class Static:
    """The same user and password for every shard (local servers, tests); `per_shard` overrides by shard name."""

    user: str
    password: str = field(repr=False)
    per_shard: Mapping[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def __call__(self, shard: Shard, endpoint: Endpoint) -> Mapping[str, str]:
        user, password = self.per_shard.get(shard.name, (self.user, self.password))
        return {"user": user, "password": password}


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


@dataclass
class SecretsManager:
    """The shard's secret (`secretArn`, `{"username", "password"}`), cached for a minute: a rotation is seen within
    that time, and a failed login drops the cache entry (`forget`)."""

    client_factory: Callable[[str], Any] | None = None
    """region -> boto3 secretsmanager client (default: boto3.client with the region of the ARN)."""
    _cache: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _client(self, region: str) -> Any:
        if self.client_factory is not None:
            return self.client_factory(region)
        import boto3  # optional dependency: pip install 'cryb-db-client[aws]'

        return boto3.client("secretsmanager", region_name=region)

    def __call__(self, shard: Shard, endpoint: Endpoint) -> Mapping[str, str]:
        if not shard.secret_arn:
            raise ValueError(f"shard {shard.name}: no secretArn in the outputs")
        with self._lock:
            cached = self._cache.get(shard.secret_arn)
            if cached and time.monotonic() - cached[0] < SECRET_CACHE_SECONDS:
                return cached[1]
        response = self._client(_region_of(shard.secret_arn)).get_secret_value(SecretId=shard.secret_arn)
        document = json.loads(response["SecretString"])
        value = {"user": str(document["username"]), "password": str(document["password"])}
        with self._lock:
            self._cache[shard.secret_arn] = (time.monotonic(), value)
        return value

    def forget(self, shard: Shard) -> None:
        with self._lock:
            self._cache.pop(shard.secret_arn, None)


@dataclass
class IamToken:
    """A fresh RDS IAM auth token per connection (valid 15 minutes; RDS Proxy and RDS both accept it over TLS)."""

    user: str
    client_factory: Callable[[str], Any] | None = None

    def __call__(self, shard: Shard, endpoint: Endpoint) -> Mapping[str, str]:
        if not shard.iam_authentication:
            raise ValueError(f"shard {shard.name}: iamAuthentication is false in the outputs; use the secret")
        if self.client_factory is not None:
            client = self.client_factory(shard.region)
        else:
            import boto3

            client = boto3.client("rds", region_name=shard.region)
        token = client.generate_db_auth_token(
            DBHostname=endpoint.host, Port=endpoint.port, DBUsername=self.user, Region=shard.region
        )
        return {"user": self.user, "password": token}
