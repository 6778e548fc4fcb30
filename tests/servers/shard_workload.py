"""What an application does during a bucket move, through the router: a writer inserting rows with unique ids
(retrying while a bucket is fenced or moved) and a reader checking what it sees. Used by
tests/real/test_shard_moves.py and `python -m scripts bench shard-move`."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from cryb_db_client import Router, Transaction

ITEMS_PER_BUCKET_QUERY = "select bucket, count(*) from items where bucket = any(%(buckets)s) group by bucket"


@dataclass
class Write:
    id: int
    key: str
    bucket: int
    started: float
    committed: float

    @property
    def latency(self) -> float:
        return self.committed - self.started


class Writer(threading.Thread):
    """Inserts rows `items(bucket, id, key)` for random keys, one transaction each, at most `rate` per second."""

    def __init__(self, router: Router, *, rate: float = 200.0, keys: int = 4000, deadline: float = 60.0, seed: int = 1):
        super().__init__(name="shard-writer", daemon=True)
        self.router, self.rate, self.keys, self.deadline = router, rate, keys, deadline
        self.random = random.Random(seed)
        self.stop_event = threading.Event()
        self.committed: list[Write] = []
        self.failed: list[tuple[int, str]] = []
        self.retried = 0
        self._next_id = 0

    def run(self) -> None:
        interval = 1.0 / self.rate
        while not self.stop_event.is_set():
            self._next_id += 1
            row_id, key = self._next_id, f"user-{self.random.randrange(self.keys)}"
            started = time.monotonic()
            attempts = [0]

            def insert(txn: Transaction, row_id: int = row_id, key: str = key, attempts: list[int] = attempts) -> int:
                attempts[0] += 1
                txn.execute(
                    "insert into items (bucket, id, key, payload) values (%s, %s, %s, %s)",
                    (txn.bucket, row_id, key, f"payload {row_id}"),
                )
                return txn.bucket

            try:
                bucket = self.router.run(key, insert, deadline=self.deadline)
            except Exception as exc:  # noqa: BLE001 - every failure is a finding, the writer goes on
                self.failed.append((row_id, f"{type(exc).__name__}: {exc}"))
                continue
            self.committed.append(Write(row_id, key, bucket, started, time.monotonic()))
            self.retried += attempts[0] > 1
            self.stop_event.wait(max(0.0, interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=self.deadline + 5)

    def pauses(self, buckets: range) -> dict[int, float]:
        """Per bucket of `buckets`: the longest time a write to it took from first attempt to commit."""
        longest: dict[int, float] = defaultdict(float)
        for write in self.committed:
            if write.bucket in buckets:
                longest[write.bucket] = max(longest[write.bucket], write.latency)
        return dict(longest)


class Reader(threading.Thread):
    """Reads every bucket's row count across all shards (fan-out filtered by the map snapshot) and single keys through
    the router; records any bucket seen on two shards at once and any count that went down."""

    def __init__(self, router: Router, *, keys: int = 4000, seed: int = 2):
        super().__init__(name="shard-reader", daemon=True)
        self.router, self.keys = router, keys
        self.random = random.Random(seed)
        self.stop_event = threading.Event()
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.scans = 0
        self._seen: dict[int, int] = {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._scan()
                self._one_key()
            except Exception as exc:  # noqa: BLE001 - every failure is a finding, the reader goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stop_event.wait(0.02)

    def _scan(self) -> None:
        rows = self.router.fan_out(ITEMS_PER_BUCKET_QUERY, deadline=5.0, role="reader")
        seen: dict[int, int] = {}
        for bucket, count in rows:
            if bucket in seen:
                self.violations.append(f"bucket {bucket} returned by two shards in one scan")
            seen[bucket] = int(count)
        for bucket, count in seen.items():
            if count < self._seen.get(bucket, 0):
                self.violations.append(f"bucket {bucket}: count went down from {self._seen[bucket]} to {count}")
            self._seen[bucket] = max(count, self._seen.get(bucket, 0))
        self.scans += 1

    def _one_key(self) -> None:
        key = f"user-{self.random.randrange(self.keys)}"
        with self.router.transaction(key, role="reader") as txn:
            row = txn.execute("select count(*) from items where key = %s", (key,)).fetchone()
            assert row is not None

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=15)
