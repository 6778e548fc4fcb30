"""`dr promote-region` with its database half real: moto is the RDS control plane (the cross-Region replica, its
promotion, the old writer's parameter group), and behind the endpoints are a PostgreSQL 15 primary (the shard's
writer) and its streaming replica (the standby). What RDS does to the databases on each API call, the test does to
the servers: `promote_read_replica` promotes the replica, `modify_db_parameter_group` with
`default_transaction_read_only` makes the primary's new transactions read-only. A writer commits throughout."""

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts.dr.promotion import PromotionSettings, promote_region, sql_catch_up, sql_write_check
from scripts.dr.promotion_plan import Journal, StandbyTarget, targets_from_outputs
from tests.scripts.dr.test_promote_region import PRIMARY, clients, stack  # noqa: F401 (fixture)
from tests.servers.postgres import PostgresFactory, PostgresServer

pytestmark = pytest.mark.servers


class Writer(threading.Thread):
    """Commits one row at a time into the shard's primary; keeps the ids the server acknowledged."""

    def __init__(self, primary: PostgresServer):
        super().__init__(daemon=True)
        self.primary, self.acked, self.refused, self.stop = primary, [], 0, threading.Event()

    def run(self) -> None:
        with self.primary.connect(autocommit=True) as conn:
            while not self.stop.is_set():
                try:
                    row = conn.execute("INSERT INTO events (payload) VALUES ('x') RETURNING id").fetchone()
                    assert row is not None
                    self.acked.append(row[0])
                except psycopg.errors.ReadOnlySqlTransaction:
                    self.refused += 1
                time.sleep(0.005)


def database_half(primary: PostgresServer, standby: PostgresServer) -> Any:
    """boto3 clients whose RDS calls also do to the servers what RDS does to the databases."""

    class Rds:
        def __init__(self, client: Any):
            self.client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def promote_read_replica(self, **kwargs: Any) -> Any:
            answer = self.client.promote_read_replica(**kwargs)
            standby.promote()
            return answer

        def modify_db_parameter_group(self, **kwargs: Any) -> Any:
            answer = self.client.modify_db_parameter_group(**kwargs)
            for parameter in kwargs["Parameters"]:
                primary.execute(f"ALTER SYSTEM SET {parameter['ParameterName']} = {parameter['ParameterValue']}")
            primary.execute("SELECT pg_reload_conf()")
            return answer

    def make(service: str, region: str) -> Any:
        client = clients(service, region)
        return Rds(client) if service == "rds" else client

    return make


def test_promotion_under_a_writer_loses_nothing_acknowledged_before_the_fence(
    stack: dict[str, Any],  # noqa: F811
    postgres_factory: PostgresFactory,
    tmp_path: Path,
) -> None:
    primary = postgres_factory.create(name="shard-writer")
    primary.execute("CREATE TABLE events (id bigserial PRIMARY KEY, payload text NOT NULL)")
    standby = postgres_factory.create(name="shard-standby", replica_of=primary)
    targets = targets_from_outputs(stack)[:1]
    (target,) = targets

    def connect(t: StandbyTarget) -> psycopg.Connection[Any]:
        assert t.standby_identifier == target.standby_identifier
        return standby.connect(autocommit=True)

    writer = Writer(primary)
    writer.start()
    time.sleep(1.0)
    journal = Journal.load(tmp_path / "journal.json")
    try:
        assert promote_region(
            targets,
            clients=database_half(primary, standby),
            check_writes=sql_write_check(connect, journal.run_id),
            catch_up=sql_catch_up(lambda t: primary.connect(autocommit=True), connect),
            journal=journal,
            settings=PromotionSettings(poll_seconds=0.05, timeout_seconds=30),
            log=lambda step, **facts: None,
        )
        time.sleep(0.3)
    finally:
        writer.stop.set()
        writer.join(timeout=10)
    assert writer.refused > 0, "the fenced primary kept accepting writes"
    promoted_rows = {row[0] for row in standby.execute("SELECT id FROM events")}
    lost = [i for i in writer.acked if i not in promoted_rows]
    # Every write the old writer acknowledged was before the fence; the fence came before the promotion, and the
    # replica had replayed them by then (loopback streaming): none may be missing on the promoted standby.
    assert lost == [], f"{len(lost)} acknowledged rows missing on the promoted standby"
    assert not standby.is_in_recovery()
    assert standby.scalar("SELECT count(*) FROM cryb_dr.promotions WHERE run_id = %s", (journal.run_id,)) == 1
    verify = journal.finished("verify-writes", target.shard) or {}
    assert 0 < verify["seconds_after_promote_start"] < 30
    rto = verify["seconds_after_promote_start"]
    print(f"acked {len(writer.acked)}, refused after fence {writer.refused}, RTO {rto} s")
