"""`python -m scripts analytics`: versioned SQL migrations for the analytics events (docs/analytics.md).

Files in `scripts/analytics/migrations/` (their checksums are recorded in live databases: never edit an applied
file, add a new one; tests/scripts/analytics/test_files.py pins them):

- `NNNN_<name>.sql` or `NNNN_<name>.<strategy>.sql`: versioned, applied once in version order, each in its own
  transaction, recorded in `analytics.schema_migrations` with the SHA-256 of the file; a recorded file that changed
  afterwards is refused (name, recorded and current checksum in the message).
- `R_<name>.sql` or `R_<name>.<strategy>.sql`: repeatable, applied after the versioned ones whenever the file or the
  parameters it reads change (retention, premake, compression, the pg_cron job).

A strategy is one of `timescaledb` (hypertables, compression and retention policies), `partman` (native range
partitioning by day maintained by pg_partman, with a pg_cron job where pg_cron runs in the database) or `native`
(the same partitioning maintained by `analytics.run_maintenance()`). Parameters reach the SQL as transaction-local
settings `cryb_analytics.<name>`, so the files stay plain SQL that can be checked on their own.

A session advisory lock serialises runners; the plan (checksums, order, strategy) is checked before anything runs.

Modules: `errors`, `parameters`, `files` (discovery and checksums), `history` (the history table), `strategy`
(detection, pure) and `server_facts` (what it reads from the server), `plan`, `runner`, `status`, `connections`,
`render` and `command` (the Typer app `__main__.py` loads lazily). May import: psycopg, `scripts.health.targets`
(credentials). Imported by: nothing but `__main__.py` and the tests.
"""
