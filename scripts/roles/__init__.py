"""`python -m scripts roles apply --outputs FILE`: create the least-privilege roles (`app`, `readonly`, `monitor`,
`migrator`; components/postgres/roles.py) on every RDS shard and self-hosted cluster of the outputs, idempotently,
and set each role's password from its own secret; enable pgaudit in the database (docs/postgres.md#roles).

Modules: `plan` (targets from the outputs, pure), `apply` (one target over psycopg: the role statements as the
admin, then the passwords as SCRAM verifiers, never in plain text) and `command` (the Typer app `__main__.py` loads
lazily). Secrets are read through an injected reader (boto3 in `command`), so tests run the same code against moto
and a local PostgreSQL.

May import: `components.postgres.roles`, psycopg and boto3 (lazily, in `command`). Imported by: `__main__.py` only.
"""
