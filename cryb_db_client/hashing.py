"""Key -> bucket, the hash every cryb-db client implements the same way (docs/postgres.md "Routing with the shard
map"): bucket = uint64_big_endian(sha256(key_bytes)[0:8]) mod bucket_count.

Kept in step with components/postgres/shard_map.py, which publishes the map (this package must not import the
Pulumi program); tests/cryb_db_client/test_hashing.py holds the two to the same answers.
"""

import hashlib

HASH_ALGORITHM = "sha256-first8-be-mod"


BUCKET_FUNCTION_SQL = """
create or replace function cryb_bucket_of(key text, bucket_count integer) returns integer
language sql immutable strict parallel safe
-- convert_to is only STABLE (the database encoding could differ); cryb-db databases are UTF8 for their life.
return (('x' || left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 16))::bit(64)::bigint
        & (bucket_count - 1))::integer;
"""
"""The same hash in SQL, for a generated bucket column (docs/sharding.md "Schema convention"): the low bits of the
signed 64-bit value are those of the unsigned one, so `& (2^k - 1)` is `mod 2^k`."""


def bucket_sql(key_sql: str, bucket_count: int) -> str:
    """`bucket integer generated always as (<this>) stored`; `key_sql` is a text expression (`user_id::text`)."""
    if bucket_count < 1 or bucket_count & (bucket_count - 1):
        raise ValueError(f"bucket_count={bucket_count}: must be a power of two")
    return f"cryb_bucket_of({key_sql}, {bucket_count})"


def key_bytes(key: int | str | bytes) -> bytes:
    """Integers in decimal ASCII (`42` -> b"42"), text as UTF-8, bytes as they are."""
    if isinstance(key, bool):  # bool is an int; True/False are not ids
        raise TypeError("a shard key is an int, str or bytes, not a bool")
    if isinstance(key, int):
        return str(key).encode("ascii")
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes):
        return key
    raise TypeError(f"a shard key is an int, str or bytes, not {type(key).__name__}")


def bucket_of(key: int | str | bytes, bucket_count: int) -> int:
    """The logical bucket of `key` (bucket_count a power of two)."""
    if bucket_count < 1 or bucket_count & (bucket_count - 1):
        raise ValueError(f"bucket_count={bucket_count}: must be a power of two")
    return int.from_bytes(hashlib.sha256(key_bytes(key)).digest()[:8], "big") % bucket_count
