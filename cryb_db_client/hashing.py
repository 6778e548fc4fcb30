"""Key -> bucket, the hash every cryb-db client implements the same way (docs/postgres.md "Routing with the shard
map"): bucket = uint64_big_endian(sha256(key_bytes)[0:8]) mod bucket_count.

Kept in step with components/postgres/shard_map.py, which publishes the map (this package must not import the
Pulumi program); tests/cryb_db_client/test_hashing.py holds the two to the same answers.
"""

import hashlib

HASH_ALGORITHM = "sha256-first8-be-mod"


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
