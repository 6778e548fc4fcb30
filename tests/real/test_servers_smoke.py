"""Smoke tests for the real-server fixtures in ``tests.servers``.

Each test checks behaviour that breaks if the fixture is mis-wired (wrong
version, auth not enforced, pooling not in front, state not reachable), so a
green run means later drills can trust the fixtures.
"""

from __future__ import annotations

import os
import uuid

import boto3
import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from scripts.servers.ports import port_is_open
from scripts.servers.process import wait_until
from tests.servers.pgbouncer import PgBouncerServer
from tests.servers.postgres import PostgresFactory, PostgresServer
from tests.servers.redis import RedisFactory, RedisServer

pytestmark = pytest.mark.servers


def test_postgres_version_roundtrip_and_scram(postgres: PostgresServer) -> None:
    info = postgres.info
    assert info.host == "127.0.0.1"
    assert "PostgreSQL 15" in postgres.scalar("select version()")
    assert 150000 <= int(postgres.scalar("show server_version_num")) < 160000
    assert postgres.scalar("show listen_addresses") == "127.0.0.1"

    postgres.execute("create table smoke_roundtrip (id int primary key, note text)")
    try:
        postgres.execute("insert into smoke_roundtrip values (%s, %s)", (1, "héllo"))
        assert postgres.execute("select id, note from smoke_roundtrip") == [(1, "héllo")]
    finally:
        postgres.execute("drop table smoke_roundtrip")

    # Auth really is enforced over TCP (scram, not trust).
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(info.dsn_for(password="wrong"), connect_timeout=5).close()
    hba_methods = {row[0] for row in postgres.execute("select auth_method from pg_hba_file_rules")}
    assert hba_methods == {"scram-sha-256"}


def test_postgres_factory_streaming_replica(postgres_factory: PostgresFactory) -> None:
    primary = postgres_factory.create(name="primary")
    replica = postgres_factory.create(name="replica", replica_of=primary)
    assert replica.info.port != primary.info.port
    assert not primary.is_in_recovery()
    assert replica.is_in_recovery()

    primary.execute("create table smoke_repl (v text)")
    primary.execute("insert into smoke_repl values ('from-primary')")
    wait_until(
        lambda: replica.execute("select v from smoke_repl") == [("from-primary",)],
        what="row replicated to standby",
        timeout=10,
    )
    states = primary.execute("select state from pg_stat_replication")
    assert states == [("streaming",)]


def test_pgbouncer_transaction_pooling(pgbouncer: PgBouncerServer) -> None:
    backend = pgbouncer.backend.info
    assert pgbouncer.info.port != backend.port

    # The query goes through PgBouncer to the backend (port seen server-side).
    assert pgbouncer.execute("select inet_server_port(), current_user") == [(backend.port, backend.user)]
    with pgbouncer.connect(autocommit=True) as conn:
        for i in range(3):  # parametrised queries work without prepared statements
            assert conn.execute("select %s::int * 2", (i,)).fetchone() == (i * 2,)

    pools = {row["database"]: row for row in pgbouncer.show("POOLS")}
    assert backend.dbname in pools
    assert pools[backend.dbname]["pool_mode"] == "transaction"
    assert pools[backend.dbname]["user"] == backend.user

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pgbouncer.info.dsn_for(password="wrong"), connect_timeout=5).close()


def test_redis_password_required(redis_server: RedisServer) -> None:
    key = f"smoke:{uuid.uuid4()}"
    with redis_server.client() as client:
        assert client.set(key, "value") is True
        assert client.get(key) == "value"
        assert client.config_get("protected-mode") == {"protected-mode": "yes"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}

    # No retries: redis-py 8 would otherwise back off for seconds on auth errors.
    no_retry = Retry(NoBackoff(), 0)
    for password in (None, "wrong-password"):
        anonymous = redis.Redis(
            host=redis_server.info.host,
            port=redis_server.info.port,
            password=password,
            retry=no_retry,
            socket_connect_timeout=2,
        )
        with anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.get(key)


def test_factories_leave_nothing_running() -> None:
    """Teardown really stops processes and removes work dirs."""
    pg_factory = PostgresFactory()
    redis_factory = RedisFactory()
    try:
        pg = pg_factory.create()
        rs = redis_factory.create()
        assert pg.process is not None and rs.process is not None
        pids = [pg.process.pid, rs.process.pid]
        ports = [pg.info.port, rs.info.port]
        workdirs = [pg.workdir, rs.workdir]
        assert all(port_is_open(port) for port in ports)
    finally:
        redis_factory.close()
        pg_factory.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not any(port_is_open(port) for port in ports)
    assert not any(path.exists() for path in workdirs)


def test_moto_kms_and_s3(moto_server: str) -> None:
    assert moto_server.startswith("http://127.0.0.1:")
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server

    kms = boto3.client("kms", endpoint_url=moto_server, region_name="us-east-1")
    key_id = kms.create_key(Description="smoke")["KeyMetadata"]["KeyId"]
    ciphertext = kms.encrypt(KeyId=key_id, Plaintext=b"secret")["CiphertextBlob"]
    assert ciphertext != b"secret"
    assert kms.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"secret"

    s3 = boto3.client("s3", region_name="us-east-1")  # endpoint from AWS_ENDPOINT_URL
    bucket = f"smoke-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
