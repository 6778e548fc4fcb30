"""Pytest fixtures for real PostgreSQL, PgBouncer, Redis and moto servers.

Enable with ``pytest_plugins = ["tests.servers.fixtures"]`` in the root
``tests/conftest.py``.

Scopes: factories are function-scoped so every server a test creates is torn
down when that test ends (pass or fail).  Ready-made single servers are there
for the common case: ``postgres`` is module-scoped (one initdb per module;
tests must not leave it stopped or promoted), the cheap ones are
function-scoped, and the moto process lives for the session but its state is
reset before every test that uses ``moto_server``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scripts.servers.moto import DUMMY_AWS_ENV, MotoServer, start_moto_server, stop_moto_server

from .moto_tls import moto_tls  # noqa: F401 - fixture: moto over verified TLS (gunicorn), for pgBackRest
from .pgbouncer import PgBouncerFactory, PgBouncerServer
from .postgres import PostgresFactory, PostgresServer
from .redis import RedisFactory, RedisServer

__all__ = [
    "moto_instance",
    "moto_server",
    "pgbouncer",
    "pgbouncer_factory",
    "postgres",
    "postgres_factory",
    "redis_factory",
    "redis_server",
]


@pytest.fixture
def postgres_factory() -> Iterator[PostgresFactory]:
    """Make PostgreSQL servers: ``create()`` / ``create(replica_of=primary)``."""
    factory = PostgresFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One running PostgreSQL 15 primary shared by the tests of a module."""
    factory = PostgresFactory()
    try:
        yield factory.create(name="pg-module")
    finally:
        factory.close()


@pytest.fixture
def pgbouncer_factory() -> Iterator[PgBouncerFactory]:
    """Make PgBouncer instances: ``create(backend, pool_mode="transaction")``."""
    factory = PgBouncerFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def pgbouncer(postgres: PostgresServer, pgbouncer_factory: PgBouncerFactory) -> PgBouncerServer:
    """PgBouncer (transaction pooling) in front of the module's ``postgres``."""
    return pgbouncer_factory.create(postgres)


@pytest.fixture
def redis_factory() -> Iterator[RedisFactory]:
    """Make Redis servers: ``create()``, ``create(cluster=True, password=...)``."""
    factory = RedisFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def redis_server(redis_factory: RedisFactory) -> RedisServer:
    """One password-protected standalone Redis 7 server."""
    return redis_factory.create()


@pytest.fixture(scope="session")
def moto_instance() -> Iterator[MotoServer]:
    """The session's moto server process (prefer ``moto_server`` in tests)."""
    server = start_moto_server()
    try:
        yield server
    finally:
        stop_moto_server(server)


@pytest.fixture
def moto_server(moto_instance: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Endpoint URL of a freshly reset moto server.

    Also exports dummy AWS credentials, the region and ``AWS_ENDPOINT_URL``
    for the duration of the test, so boto3 clients (and subprocesses) created
    without an explicit ``endpoint_url`` hit moto, never real AWS.
    """
    moto_instance.reset()
    for key, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_instance.endpoint_url)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Ignore the developer's ~/.aws files entirely.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return moto_instance.endpoint_url
