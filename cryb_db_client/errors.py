"""What the router raises. The SQLSTATEs are the ones the shard guard (scripts/shards/control.sql, installed on
every shard by `python -m scripts shards`) raises when a write reaches a shard that must not take it."""

# Custom SQLSTATE class "CR" (not used by PostgreSQL): the guard trigger on sharded tables raises them.
SQLSTATE_FENCED = "CRB01"
"""The bucket is fenced for a move's cut-over: retry after a short wait."""
SQLSTATE_NOT_HERE = "CRB02"
"""The bucket is not (or not yet) on this shard: refresh the shard map and retry."""


class RouterError(Exception):
    """Base of the router's errors."""


class ContractError(RouterError):
    """The outputs document is not a cryb-db outputs contract the router can use."""


class RetryableError(RouterError):
    """The operation did not happen and may be retried as it is (`retryable` is True)."""

    retryable = True


class BucketFencedError(RetryableError):
    """A write to a bucket that is being moved (cut-over in progress, normally under 2 s)."""

    def __init__(self, bucket: int, shard: int | None, detail: str = ""):
        self.bucket, self.shard = bucket, shard
        where = f" on shard {shard}" if shard is not None else ""
        super().__init__(
            f"bucket {bucket} is fenced{where} for a shard move: the write did not happen; retry shortly"
            + (f" ({detail})" if detail else "")
        )


class BucketMovedError(RetryableError):
    """A write reached a shard that no longer (or not yet) holds the bucket; the router refreshed its map."""

    def __init__(self, bucket: int, shard: int | None, detail: str = ""):
        self.bucket, self.shard = bucket, shard
        super().__init__(
            f"bucket {bucket} is not on shard {shard}: the shard map changed; retry with the refreshed map"
            + (f" ({detail})" if detail else "")
        )


class FanOutTimeoutError(RouterError):
    """A cross-shard query did not finish on every shard before its deadline."""

    def __init__(self, deadline: float, missing: list[int], partial_rows: int):
        self.missing, self.partial_rows = missing, partial_rows
        super().__init__(
            f"cross-shard query missed its {deadline:.2f} s deadline on shards {missing} "
            f"({partial_rows} rows arrived from the others)"
        )
