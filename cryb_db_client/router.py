"""The application router: key -> bucket -> region and shard -> a pooled connection (docs/sharding.md).

    router = Router.from_files("outputs.json", credentials=SecretsManager())
    with router.transaction(user_id) as txn:          # one key's transaction, on one shard
        txn.execute("insert into posts (bucket, id, body) values (%s, %s, %s)", (txn.bucket, post_id, body))
    router.run(user_id, lambda txn: ...)             # the same, retried while the bucket is fenced or moved
    rows = router.fan_out("select ... where bucket = any(%(buckets)s)", deadline=2.0)  # every shard, merged

The map in force is the stack's published one plus the moves recorded in every shard's control tables; a
background thread polls their epoch (every `refresh_seconds`) and re-reads the outputs file when it changes, so a
move or a new stack output is followed without a restart. Writes to a fenced bucket fail fast with
`BucketFencedError` (retryable); a write that reaches a shard which no longer holds its bucket is refused by the
shard's guard trigger and comes back as `BucketMovedError` after the map was refreshed.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from .contract import Endpoint, Shard, StackContract, parse, read_outputs
from .credentials import Credentials
from .directory import Directory
from .errors import (
    SQLSTATE_FENCED,
    SQLSTATE_NOT_HERE,
    BucketFencedError,
    BucketMovedError,
    ContractError,
    FanOutTimeoutError,
    RetryableError,
)
from .hashing import bucket_of
from .live_map import LiveMap, read_epoch, read_live_map

Role = Literal["writer", "reader"]
T = TypeVar("T")
log = logging.getLogger("cryb_db_client")
CONTROL_TIMEOUT = 2.0
"""Seconds to wait for a connection to read a shard's control tables before trying the next shard."""


@dataclass(frozen=True)
class Route:
    """Where a key lives now."""

    key_bucket: int
    region: str
    shard: Shard
    fenced: bool
    map_version: str

    @property
    def bucket(self) -> int:
        return self.key_bucket


@dataclass
class Transaction:
    """One key's transaction on its shard: `execute` runs in it; `bucket` is the value of the bucket column."""

    conn: psycopg.Connection[TupleRow]
    route: Route

    @property
    def bucket(self) -> int:
        return self.route.bucket

    def execute(self, query: Any, params: Any = None) -> psycopg.Cursor[TupleRow]:
        return self.conn.execute(query, params)


@dataclass
class _Region:
    contract: StackContract
    live: LiveMap
    path: Path | None = None
    mtime: float = 0.0
    readers_cycle: dict[int, Iterator[int]] = field(default_factory=dict)


class Router:
    def __init__(
        self,
        stacks: Sequence[Mapping[str, Any] | StackContract],
        *,
        credentials: Credentials,
        home_region: str | None = None,
        sslmode: str = "verify-full",
        sslrootcert: str | os.PathLike[str] | None = None,
        pool_min_size: int = 1,
        pool_max_size: int = 8,
        pool_timeout: float = 10.0,
        connect_timeout: int = 5,
        refresh_seconds: float = 1.0,
        application_name: str = "cryb-db-client",
        directory_ttl_seconds: float = 30.0,
        follow_moves: bool = True,
        _paths: Sequence[Path | None] = (),
    ):
        if not stacks:
            raise ContractError("a router needs the outputs of at least one stack")
        self._credentials = credentials
        self._tls = {"sslmode": sslmode, **({"sslrootcert": str(sslrootcert)} if sslrootcert else {})}
        self._pool_args = {"min_size": pool_min_size, "max_size": pool_max_size, "timeout": pool_timeout}
        self._connect_timeout, self._application_name = connect_timeout, application_name
        self._lock = threading.RLock()
        self._pools: dict[tuple[str, int, str], ConnectionPool] = {}
        self._regions: dict[str, _Region] = {}
        paths = list(_paths) + [None] * (len(stacks) - len(_paths))
        for stack, path in zip(stacks, paths, strict=True):
            contract = stack if isinstance(stack, StackContract) else parse(stack)
            if contract.region in self._regions:
                raise ContractError(f"two stacks' outputs are both in region {contract.region}")
            mtime = path.stat().st_mtime if path else 0.0
            self._regions[contract.region] = _Region(contract, LiveMap(contract.shard_map), path, mtime)
        counts = {r.contract.shard_map.bucket_count for r in self._regions.values()}
        if len(counts) != 1:
            raise ContractError(f"regional stacks must share one bucket space; bucketCount differs: {sorted(counts)}")
        self.home_region = home_region or next(iter(self._regions))
        if self.home_region not in self._regions:
            raise ContractError(f"home_region {self.home_region!r}: no stack outputs for it ({sorted(self._regions)})")
        self.directory = Directory(self, ttl_seconds=directory_ttl_seconds)
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        if not follow_moves:  # the published map only: no control tables read (offline use, tests)
            return
        for region in self._regions:
            self._refresh_region(region, force=True)
        if refresh_seconds > 0:
            self._refresher = threading.Thread(
                target=self._refresh_loop, args=(refresh_seconds,), name="cryb-db-router-refresh", daemon=True
            )
            self._refresher.start()

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def from_files(cls, *paths: str | os.PathLike[str], **kwargs: Any) -> Router:
        """From files written by `pulumi stack output --json` (one per regional stack); re-read when they change."""
        resolved = [Path(p) for p in paths]
        return cls([read_outputs(p) for p in resolved], _paths=resolved, **kwargs)

    @classmethod
    def from_stacks(cls, *stacks: str, cwd: str | os.PathLike[str] | None = None, **kwargs: Any) -> Router:
        """From `pulumi stack output --json --stack NAME` of each stack (needs the Pulumi CLI)."""
        from .contract import stack_outputs

        return cls([stack_outputs(s, cwd) for s in stacks], **kwargs)

    def close(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(timeout=5)
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routing ----------------------------------------------------------------------------------------------

    @property
    def regions(self) -> list[str]:
        return list(self._regions)

    def shards(self, region: str | None = None) -> list[Shard]:
        """The shards of a region's stack (default: the home region), by id."""
        return sorted(self._region(region).contract.shards.values(), key=lambda s: s.id)

    def live_map(self, region: str | None = None) -> LiveMap:
        return self._region(region).live

    def _region(self, region: str | None) -> _Region:
        name = region or self.home_region
        try:
            return self._regions[name]
        except KeyError:
            raise ContractError(f"region {name!r}: no stack outputs for it ({sorted(self._regions)})") from None

    def route(self, key: int | str | bytes, *, region: str | None = None) -> Route:
        """The bucket of `key` and the shard that holds it in `region` (default: the home region)."""
        state = self._region(region)
        live = state.live
        bucket = bucket_of(key, live.base.bucket_count)
        shard = state.contract.shards[live.owner(bucket)]
        return Route(bucket, state.contract.region, shard, bucket in live.fenced, live.version)

    def route_community(self, community_id: int | str) -> Route:
        """A community's data: its home region from the directory, then its shard there."""
        return self.route(community_id, region=self.directory.region_of(community_id))

    # -- connections ------------------------------------------------------------------------------------------

    def _endpoint(self, state: _Region, shard: Shard, role: Role) -> tuple[str, Endpoint]:
        if role == "writer" or not shard.readers:
            return "writer", shard.writer
        cycle = state.readers_cycle.setdefault(shard.id, itertools.cycle(range(len(shard.readers))))
        index = next(cycle)
        return f"reader{index}", shard.readers[index]

    def pool(self, shard: Shard, role: Role = "writer") -> ConnectionPool:
        """The pool of `shard` for `role` (readers round-robin over the shard's read endpoints)."""
        state = self._region(shard.region)
        with self._lock:
            label, endpoint = self._endpoint(state, shard, role)
            key = (shard.region, shard.id, label)
            pool = self._pools.get(key)
            if pool is None or pool.closed:
                pool = self._new_pool(shard, endpoint, f"{shard.region}/{shard.name}/{label}")
                self._pools[key] = pool
            return pool

    def _new_pool(self, shard: Shard, endpoint: Endpoint, name: str) -> ConnectionPool:
        conninfo = make_conninfo(
            host=endpoint.host,
            port=endpoint.port,
            dbname=shard.database,
            connect_timeout=self._connect_timeout,
            application_name=self._application_name,
            **self._tls,
        )
        credentials = self._credentials

        def login() -> dict[str, Any]:
            return dict(credentials(shard, endpoint))

        return ConnectionPool(
            conninfo, kwargs=login, name=name, open=True, check=ConnectionPool.check_connection, **self._pool_args
        )

    @contextmanager
    def connection(
        self, shard: Shard, role: Role = "writer", timeout: float | None = None
    ) -> Iterator[psycopg.Connection[TupleRow]]:
        with self.pool(shard, role).connection(timeout=timeout) as conn:
            yield conn

    @contextmanager
    def transaction(
        self, key: int | str | bytes, *, role: Role = "writer", region: str | None = None
    ) -> Iterator[Transaction]:
        """One transaction of one key, on the shard that holds the key. Raises `BucketFencedError` before any work
        when the bucket is fenced (writer role), and turns the shard guard's refusals into the router's errors."""
        route = self.route(key, region=region)
        if role == "writer" and route.fenced:
            raise BucketFencedError(route.bucket, route.shard.id, f"map {route.map_version}")
        with self.connection(route.shard, role) as conn:
            try:
                with conn.transaction():
                    yield Transaction(conn, route)
            except psycopg.Error as exc:
                raise self._translate(exc, route) from exc

    def _translate(self, exc: psycopg.Error, route: Route) -> Exception:
        if exc.sqlstate == SQLSTATE_FENCED:
            return BucketFencedError(route.bucket, route.shard.id, exc.diag.message_primary or "")
        if exc.sqlstate == SQLSTATE_NOT_HERE:
            self._refresh_region(route.region, force=True)
            return BucketMovedError(route.bucket, route.shard.id, exc.diag.message_primary or "")
        return exc

    def run(
        self,
        key: int | str | bytes,
        work: Callable[[Transaction], T],
        *,
        role: Role = "writer",
        region: str | None = None,
        deadline: float = 5.0,
    ) -> T:
        """`work` in one transaction of `key`, retried (map refreshed, backing off 20-200 ms) while the bucket is
        fenced or moved, until `deadline` seconds have passed; then the last retryable error is raised."""
        end = time.monotonic() + deadline
        delay = 0.02
        while True:
            try:
                with self.transaction(key, role=role, region=region) as txn:
                    return work(txn)
            except RetryableError:
                if time.monotonic() + delay > end:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
                self._refresh_region(region or self.home_region, force=False)

    # -- cross-shard --------------------------------------------------------------------------------------------

    def fan_out(
        self,
        query: Any,
        params: Mapping[str, Any] | None = None,
        *,
        deadline: float = 2.0,
        role: Role = "reader",
        region: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run `query` on every shard of a region at once and return all rows (in shard order).

        Every shard gets `%(buckets)s`, the buckets it holds in one snapshot of the map: filter sharded tables on
        `bucket = any(%(buckets)s)` so a bucket in the middle of a move is read from one shard only. Raises
        `FanOutTimeoutError` when a shard has not answered within `deadline` seconds (its statement is cancelled by a
        statement_timeout of the time left)."""
        state = self._region(region)
        live = state.live
        shards = sorted(state.contract.shards.values(), key=lambda s: s.id)
        owned = {s.id: live.buckets_of(s.id) for s in shards}
        end = time.monotonic() + deadline

        def one(shard: Shard) -> list[tuple[Any, ...]]:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            with self.pool(shard, role).connection(timeout=left) as conn, conn.transaction():
                timeout_ms = max(1, int((end - time.monotonic()) * 1000))
                conn.execute("select set_config('statement_timeout', %s, true)", (str(timeout_ms),))
                cursor = conn.execute(query, {**(params or {}), "buckets": owned[shard.id]})
                return cursor.fetchall() if cursor.description is not None else []

        executor = ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="cryb-db-fan-out")
        try:
            futures = {executor.submit(one, s): s.id for s in shards}
            done, pending = wait(futures, timeout=deadline, return_when=FIRST_EXCEPTION)
            results: dict[int, list[tuple[Any, ...]]] = {}
            missing = sorted(futures[f] for f in pending)
            for future in done:
                error = future.exception()
                if isinstance(error, TimeoutError | psycopg.errors.QueryCanceled):
                    missing.append(futures[future])
                elif error is not None:
                    raise error
                else:
                    results[futures[future]] = future.result()
            if missing:
                raise FanOutTimeoutError(deadline, sorted(missing), sum(len(r) for r in results.values()))
            return [row for shard_id in sorted(results) for row in results[shard_id]]
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- following the map ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the outputs files that changed and every region's control epoch now."""
        for region in list(self._regions):
            self._refresh_region(region, force=False)

    def _refresh_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.refresh()
            except Exception:  # a failed poll keeps the last map; the shards' guard still protects writes
                log.warning("shard map refresh failed; keeping map", exc_info=True)

    def _refresh_region(self, region: str, *, force: bool) -> None:
        state = self._region(region)
        if state.path is not None:
            mtime = state.path.stat().st_mtime
            if mtime != state.mtime:
                contract = parse(read_outputs(state.path))
                with self._lock:
                    state.contract, state.mtime = contract, mtime
                    state.live = LiveMap(contract.shard_map, state.live.epoch, state.live.owners, state.live.fenced)
                force = True
        for shard in sorted(state.contract.shards.values(), key=lambda s: s.id):
            try:
                with self.connection(shard, "writer", timeout=CONTROL_TIMEOUT) as conn:
                    if not force and read_epoch(conn) == state.live.epoch:
                        return
                    live = read_live_map(conn, state.contract.shard_map)
            except (psycopg.OperationalError, PoolTimeout):
                continue  # the next shard's copy of the control tables
            with self._lock:
                if force or live.epoch >= state.live.epoch:
                    state.live = live
            return
