"""`python -m scripts health`: replication, shard balance and performance checks of the PostgreSQL shards
(docs/monitoring.md#health-command).

Pure, testable without a database: `thresholds` (what ok means), `queries` (the SQL), `samples` (what it returned),
`findings`, one module per family of checks (`replication`, `balance`, `performance`) and `report` (all of them over
every shard). Talking to servers: `targets` (which servers, with which credentials), `collect` (connect and
sample), `render` (text) and `command` (the Typer app `__main__.py` loads lazily).

May import: components/ (nothing today), psycopg, boto3 (lazily, for secrets). The pure modules import only each
other and pydantic. Imported by: `scripts.analytics` (targets: `Credentials`, `read_rds_secret`).
"""
