"""Geographic placement through the router on real servers: two regional stacks' outputs (us-east-1 and
eu-west-1, each its own databases on loopback) share one bucket space; the directory homes a community in a
region; the router picks that region, then the shard its map names, and cross-shard reads stay in one region."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.postgres import shard_map
from cryb_db_client import FanOutTimeoutError, Router, Transaction, bucket_of, parse
from cryb_db_client.hashing import BUCKET_FUNCTION_SQL, bucket_sql
from scripts import PROJECT_DIR
from scripts.servers.moto import MotoServer
from tests.servers.shards import SCHEMA, ShardRig, shard_rig, stack_outputs

pytestmark = pytest.mark.servers

EU_DATABASE = "app_eu"


@pytest.fixture(scope="module")
def regions(moto_instance: MotoServer) -> Iterator[tuple[ShardRig, dict]]:
    moto_instance.reset()
    with shard_rig(moto_instance, count=2, map_shards=2) as rig:
        for server in rig.servers:  # the EU stack's shards: their own databases (stand-ins for eu-west-1 servers)
            server.execute(f"create database {EU_DATABASE}")
            with server.connect(dbname=EU_DATABASE, autocommit=True) as conn:
                conn.execute(SCHEMA)
        arns = [s["secretArn"] for s in rig.outputs["postgres"]["shards"]]
        eu = stack_outputs(
            [(s.info.port, arn, EU_DATABASE) for s, arn in zip(rig.servers, arns, strict=True)],
            map_shards=2,
            region="eu-west-1",
            environment="prod",
        )
        yield rig, eu


def _router(rig: ShardRig, eu: dict, tmp_path: Path) -> Router:
    eu_path = tmp_path / "outputs-eu.json"
    eu_path.write_text(json.dumps(eu))

    return Router.from_files(
        rig.outputs_path,
        eu_path,
        credentials=rig.secrets_manager(),
        sslrootcert=rig.tls.ca_file,
        home_region="us-east-1",
        refresh_seconds=0,
    )


def _post(router: Router, community: str, region: str, body: str) -> int:
    def insert(txn: Transaction) -> int:
        txn.execute(
            "insert into items (bucket, id, key, payload) values (%s, %s, %s, %s)",
            (txn.bucket, abs(hash(body)) % 10**12, community, body),
        )
        return txn.route.shard.id

    return router.run(community, insert, region=region)


def test_the_generated_bucket_column_hashes_like_the_router(regions: tuple[ShardRig, dict]) -> None:
    rig, _ = regions
    keys = ["user-1", "community-7", "42", "-7", "communauté", ""]
    with rig.servers[0].connect(dbname="app", autocommit=True) as conn:
        conn.execute(BUCKET_FUNCTION_SQL)
        generated = bucket_sql("key", 1024)
        conn.execute(
            f"create table posts_by_key (key text not null, bucket integer generated always as "  # type: ignore[arg-type]
            f"({generated}) stored, primary key (bucket, key))"
        )
        try:
            with conn.cursor() as cursor:
                cursor.executemany("insert into posts_by_key (key) values (%s)", [(k,) for k in keys])
            got = dict(conn.execute("select key, bucket from posts_by_key").fetchall())
        finally:
            conn.execute("drop table posts_by_key")
    assert got == {k: bucket_of(k, 1024) for k in keys}


def test_a_community_homed_in_a_region_is_routed_there(regions: tuple[ShardRig, dict], tmp_path: Path) -> None:
    rig, eu = regions
    router = _router(rig, eu, tmp_path)
    try:
        router.directory.set_region("community-7", "eu-west-1")
        european, american = router.route_community("community-7"), router.route_community("community-8")
        assert (european.region, american.region) == ("eu-west-1", "us-east-1")
        assert european.shard.region == "eu-west-1" and european.shard.database == EU_DATABASE
        assert european.bucket == bucket_of("community-7", 1024)  # one bucket space across the regions
        assert european.shard.id == (0 if european.bucket < 512 else 1)

        eu_shard = _post(router, "community-7", european.region, "hello from Lyon")
        us_shard = _post(router, "community-8", american.region, "hello from Ohio")
        with rig.servers[eu_shard].connect(dbname=EU_DATABASE) as conn:
            assert conn.execute("select key from items where payload = 'hello from Lyon'").fetchall() == [
                ("community-7",)
            ]
        with rig.servers[us_shard].connect(dbname="app") as conn:
            assert conn.execute("select key from items where payload = 'hello from Ohio'").fetchall() == [
                ("community-8",)
            ]
        in_eu = router.fan_out("select key from items where bucket = any(%(buckets)s)", region="eu-west-1")
        in_us = router.fan_out("select key from items where bucket = any(%(buckets)s)")
        assert in_eu == [("community-7",)] and in_us == [("community-8",)]

        router.directory.set_region("community-7", "us-east-1")  # re-homed (after its data moved)
        assert router.route_community("community-7").region == "us-east-1"
        with pytest.raises(ValueError, match="ap-south-1"):
            router.directory.set_region("community-9", "ap-south-1")
    finally:
        router.close()


def test_a_slow_shard_misses_the_fan_out_deadline(regions: tuple[ShardRig, dict], tmp_path: Path) -> None:
    rig, eu = regions
    router = _router(rig, eu, tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(FanOutTimeoutError, match=r"missed its 0\.50 s deadline on shards \[1\]"):
            router.fan_out(
                "select pg_sleep(case when 512 = any(%(buckets)s) then 3 else 0 end)", deadline=0.5, role="writer"
            )
        assert time.monotonic() - started < 2.0  # the slow shard's statement was cut, not waited for
    finally:
        router.close()


def test_a_new_outputs_file_is_followed_without_a_restart(regions: tuple[ShardRig, dict], tmp_path: Path) -> None:
    rig, eu = regions
    router = _router(rig, eu, tmp_path)
    original = rig.outputs_path.read_text()
    try:
        key = next(f"user-{n}" for n in range(1000) if bucket_of(f"user-{n}", 1024) >= 512)
        assert router.route(key).shard.id == 1
        one_shard = json.loads(original)
        one_shard["postgres"]["shardMap"] = shard_map.document(1024, 1)
        time.sleep(0.01)  # a new mtime
        rig.outputs_path.write_text(json.dumps(one_shard))
        router.refresh()
        assert router.route(key).shard.id == 0
        assert router.live_map().base.version == one_shard["postgres"]["shardMap"]["version"]
    finally:
        rig.outputs_path.write_text(original)
        router.close()


def test_the_example_application_runs_on_real_shards(regions: tuple[ShardRig, dict]) -> None:
    rig, _ = regions
    done = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "docs" / "examples" / "sharded_app.py"), str(rig.outputs_path),
         "--sslrootcert", str(rig.tls.ca_file)],
        env={**rig.cli_env(), "PYTHONPATH": str(PROJECT_DIR)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    owner = parse(rig.outputs).shard_map.owner(bucket_of(7, 1024))
    assert lines[0] == f"community 7 lives on shard {owner} (bucket {bucket_of(7, 1024)}): 5 posts"
    assert lines[1:] == [f"community {c}: 5 posts" for c in range(1, 21)]
