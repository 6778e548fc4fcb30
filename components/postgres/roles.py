"""The least-privilege database roles of every RDS shard and self-hosted cluster, as idempotent SQL (pure).

`migrator` owns the application schemas (DDL, migrations), `app` reads and writes their data, `readonly` reads it,
`monitor` has `pg_monitor` (statistics, no data). Each logs in with its own secret (docs/outputs.md says which an
application uses). The same statements run from `python -m scripts roles apply` (every shard, as its admin) and at
bootstrap of a self-hosted cluster (components/selfhosted/cloud_init.py, as the superuser), so both converge on
the same grants; running them again changes nothing. No password is ever part of them: `scripts roles apply`
sets each role's password from its secret, and on self-hosted nodes the credentials agent does.
"""

from dataclasses import dataclass

APPLICATION_SCHEMA = "app"
"""The schema applications' tables live in; owned by `migrator`."""


@dataclass(frozen=True)
class Role:
    name: str
    purpose: str


ROLES = (
    Role("app", "the application's read/write role: data in the application schema, no DDL"),
    Role("readonly", "reads the application schema (reports, support tools, read replicas)"),
    Role("monitor", "pg_monitor: statistics and activity for agents and `scripts health`, no data"),
    Role("migrator", "owns the application schema: runs migrations (DDL)"),
)
ROLE_NAMES = tuple(role.name for role in ROLES)
CONNECTION_LIMITS = {"migrator": 5, "monitor": 10}
"""Roles that need few sessions get a cap, so a runaway tool cannot take the connection slots."""


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"{name!r}: not a plain SQL identifier")
    return f'"{name}"'


def role_statements(database: str, schema: str = APPLICATION_SCHEMA) -> list[str]:
    """Idempotent statements, run in `database` by a role with CREATEROLE that may create schemas there (the
    admin, or the superuser). The roles are created without a password (they cannot log in until it is set)."""
    db, sc = _ident(database), _ident(schema)
    statements: list[str] = []
    for role in ROLES:
        limit = CONNECTION_LIMITS.get(role.name, -1)
        name = _ident(role.name)
        statements.append(
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role.name}') THEN CREATE ROLE {name}; END IF; "
            "END $$"
        )
        statements.append(f"ALTER ROLE {name} LOGIN CONNECTION LIMIT {limit}")  # created NOSUPERUSER, NOCREATEROLE
        purpose = role.purpose.replace("'", "''")
        statements.append(f"COMMENT ON ROLE {name} IS '{purpose}'")
        statements.append(f"GRANT CONNECT ON DATABASE {db} TO {name}")
    statements += [
        # Creating a schema for migrator and its default privileges needs membership in it (PostgreSQL 16: the
        # creator holds only ADMIN on the roles it made); a superuser has it anyway.
        "DO $$ BEGIN IF NOT pg_has_role(current_user, 'migrator', 'MEMBER') THEN GRANT migrator TO CURRENT_USER; "
        "END IF; END $$",
        f"CREATE SCHEMA IF NOT EXISTS {sc} AUTHORIZATION migrator",
        f"ALTER SCHEMA {sc} OWNER TO migrator",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE ALL ON SCHEMA {sc} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {sc} TO app, readonly",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {sc} TO app",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {sc} TO app",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {sc} TO app",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {sc} TO readonly",
        f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {sc} TO readonly",
        # What the migrator creates later is granted as it is created.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA {sc} "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA {sc} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO app",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA {sc} GRANT EXECUTE ON FUNCTIONS TO app",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA {sc} GRANT SELECT ON TABLES TO readonly",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE migrator IN SCHEMA {sc} GRANT SELECT ON SEQUENCES TO readonly",
        # Only when missing: granting pg_monitor needs ADMIN on it, which a second run need not have.
        "DO $$ BEGIN IF NOT pg_has_role('monitor', 'pg_monitor', 'MEMBER') THEN GRANT pg_monitor TO monitor; "
        "END IF; END $$",
    ]
    return statements


def role_script(database: str, schema: str = APPLICATION_SCHEMA) -> str:
    """The statements as one psql script (stops at the first error)."""
    return "".join(f"{statement};\n" for statement in role_statements(database, schema))
