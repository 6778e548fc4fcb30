"""`python -m scripts local up|status|down` on the dev stack, as a developer runs it (subprocesses of the CLI): one
up/health/down cycle for the module, with its state and outputs in a directory of its own (CRYB_LOCAL_DIR)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts.local.outputs import validate
from scripts.local.tuning import BUDGET_MIB, local_parameters, node_budget
from tests.real.local.platform import (
    Platform,
    assert_down_leaves_nothing,
    cli,
    kill_leader_under_a_writer,
    local_env,
    running_platform,
    sandbox_namespaces,
)

pytestmark = pytest.mark.servers

WRITER = ("127.1.0.1", 5433)  # dev's shard 0 on this machine (scripts/local/supervisor.py)


def test_a_port_in_use_fails_up_in_one_line_with_nothing_started(tmp_path: Path) -> None:
    env = local_env(tmp_path)
    before = sandbox_namespaces()
    with socket.socket() as squatter:
        squatter.bind(WRITER)
        squatter.listen(1)
        result = cli(env, "local", "up", timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert message[0].startswith("error: local up failed: 127.1.0.1:5433 is in use"), result.stderr
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "outputs.local.json").exists()
    assert sandbox_namespaces() == before
    assert "already up" not in cli(env, "local", "status").stdout


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with running_platform(tmp_path_factory.mktemp("local")) as booted:
        yield booted


def test_up_writes_outputs_that_validate_against_the_contract(platform: Platform) -> None:
    assert "up in" in platform.up.stdout
    outputs = platform.outputs()
    validate(outputs)
    shard = outputs["postgres"]["shards"][0]
    assert (shard["writerEndpoint"], shard["port"]) == WRITER
    assert len(outputs["cache"]["nodes"]) == 6
    assert {n.address for n in platform.state.nodes if n.kind == "cache"} == {
        n["address"] for n in outputs["cache"]["nodes"]
    }


def test_a_second_up_says_it_is_already_up(platform: Platform) -> None:
    again = cli(platform.env, "local", "up", timeout=60)
    assert again.returncode == 0 and "already up" in again.stdout


def test_status_shows_one_leader_and_every_node_healthy(platform: Platform) -> None:
    result = cli(platform.env, "local", "status", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    state = platform.current_state()
    postgres = [n for n in state.nodes if n.kind == "postgres"]
    assert sorted(n.role for n in postgres) == ["leader", "replica", "replica"]
    cache = [n for n in state.nodes if n.kind == "cache"]
    assert sorted(n.role for n in cache) == ["master"] * 3 + ["replica"] * 3
    assert all(n.healthy for n in state.nodes)


def test_health_with_the_outputs_file_exits_0(platform: Platform) -> None:
    result = cli(platform.env, "health", "--outputs", str(platform.outputs_path), "--sslmode", "require")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def _shard_admin(platform: Platform) -> tuple[dict[str, Any], dict[str, str]]:
    """Shard 0 of the outputs file and its admin secret, read from the local moto as an application reads it."""
    shard = platform.outputs()["postgres"]["shards"][0]
    return shard, platform.secret(shard["secretArn"], shard["region"])


def test_a_client_with_only_the_outputs_file_writes_over_tls_and_reads_from_the_reader(platform: Platform) -> None:
    shard, admin = _shard_admin(platform)
    params = {"port": shard["port"], "dbname": shard["databaseName"], "user": admin["username"]}
    with psycopg.connect(host=shard["writerEndpoint"], password=admin["password"], sslmode="require", **params) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        conn.execute("CREATE TABLE IF NOT EXISTS local_probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO local_probe VALUES (1, 'written from this machine') ON CONFLICT (id) DO NOTHING")
    (reader,) = shard["readerEndpoints"]
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(host=reader, password=admin["password"], sslmode="require", **params) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            exists = conn.execute("SELECT to_regclass('local_probe') IS NOT NULL").fetchone()
            row = conn.execute("SELECT note FROM local_probe WHERE id = 1").fetchone() if exists == (True,) else None
        if row == ("written from this machine",) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert row == ("written from this machine",)


def _admin_connect(platform: Platform, host: str) -> psycopg.Connection[Any]:
    shard, admin = _shard_admin(platform)
    return psycopg.connect(
        host=host, port=shard["port"], dbname=shard["databaseName"], user=admin["username"],
        password=admin["password"], sslmode="require",
    )  # fmt: skip


def test_the_nodes_run_with_the_parameters_tuned_for_their_share_of_a_4_gb_machine(platform: Platform) -> None:
    shard = platform.outputs()["postgres"]["shards"][0]
    expected = local_parameters(node_budget(sum(1 for n in platform.state.nodes if n.kind == "postgres")))
    assert platform.state.tuning == {**platform.state.tuning, **expected}
    for host in (shard["writerEndpoint"], *shard["readerEndpoints"]):
        with _admin_connect(platform, host) as conn:
            rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(expected),))
            assert dict(rows.fetchall()) == expected, host
            (shown,) = conn.execute("SHOW shared_buffers").fetchone() or ("",)
            size = conn.execute("SELECT pg_size_bytes(%s)", (shown,)).fetchone()
            assert size == (int(expected["shared_buffers"]) * 8192,), shown  # 25 % of the node's share


def test_the_platform_stays_within_the_memory_budget(platform: Platform) -> None:
    state = platform.current_state()
    memory = state.memory
    print(f"local memory: {memory}")
    assert memory.get("processes", 0) >= 3 * 3 + 6, memory  # etcd, Patroni, postmaster per node; a cache server
    assert 0 < memory["rss_mib"] <= memory["peak_rss_mib"] <= BUDGET_MIB, memory
    assert "local tuning" not in platform.up.stderr
    assert f"budget {BUDGET_MIB} MiB" in platform.up.stdout


def test_analytics_migrate_and_status_with_the_outputs_file_target_the_shard(platform: Platform) -> None:
    """dev has no analytics cluster (docs/local.md): `--shard` migrates the shard's database, as on AWS."""
    target = ["--outputs", str(platform.outputs_path), "--shard", platform.outputs()["postgres"]["shards"][0]["name"]]
    refused = cli(platform.env, "analytics", "status", "--outputs", str(platform.outputs_path), "--sslmode", "require")
    assert refused.returncode == 2 and "--shard NAME targets a postgres.shards[] entry" in refused.stderr
    migrate = cli(platform.env, "analytics", "migrate", *target, "--sslmode", "require")
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-2000:]
    status = cli(platform.env, "analytics", "status", *target, "--sslmode", "require", "--json")
    assert status.returncode == 0, status.stdout[-3000:] + status.stderr[-2000:]
    document = json.loads(status.stdout)
    print(f"local analytics: strategy {document['strategy']}, {len(document['migrations'])} migrations applied")
    assert document["migrations"] and {m["state"] for m in document["migrations"]} == {"applied"}, document
    with _admin_connect(platform, WRITER[0]) as conn:
        recorded = conn.execute("SELECT count(*) FROM analytics.schema_migrations").fetchone()
        assert recorded is not None and recorded[0] >= len(document["migrations"])


def test_a_connected_client_survives_a_kill_9_of_the_shard_leader(platform: Platform) -> None:
    """The client reconnects to the writer endpoint of the outputs file and writes again within 60 s; no commit
    it saw acknowledged is lost."""
    shard = platform.outputs()["postgres"]["shards"][0]
    failover = kill_leader_under_a_writer(platform, shard, shard["name"], "local_failover")
    assert failover.resumed_seconds <= 60, f"writes resumed after {failover.resumed_seconds:.1f} s"
    assert set(failover.acknowledged) <= failover.present


def test_down_leaves_no_process_port_namespace_or_directory(platform: Platform) -> None:
    assert_down_leaves_nothing(platform)
