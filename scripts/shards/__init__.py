"""`python -m scripts shards plan|move|verify|finish|status`: bucket moves between PostgreSQL shards with logical
replication, a short write fence and verification; splits as sequences of moves (docs/sharding.md).

Owns: `plan` (what a move is, pure), `connect` (outputs -> admin connections), `tables` (sharded tables, the guard
trigger), `checks` (storage and lag bounds), `verify` (counts and checksums per bucket), `mover` (the resumable
steps), `control.sql` (the control tables every shard carries), `ledger` (finished moves, read by the preview's
split guard), `status`, `command`.
May import: `scripts`, `cryb_db_client`, psycopg, boto3 (lazily), components.postgres.shard_map (ledger).
"""
