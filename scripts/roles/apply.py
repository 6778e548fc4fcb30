"""Apply the roles to one database: the statements as its admin, then each role's password from its secret."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.postgres.roles import ROLE_NAMES, role_statements

SecretReader = Callable[[str], Mapping[str, Any]]
AUDIT_STATEMENTS = ("CREATE EXTENSION IF NOT EXISTS pgaudit",)
"""pgaudit is preloaded by the parameter group / patroni.yml; the extension adds its DDL event triggers."""


@dataclass
class Applied:
    target: str
    roles: list[str] = field(default_factory=list)
    passwords_set: list[str] = field(default_factory=list)
    audit: bool = False


def apply_roles(
    *, conninfo: str, admin_password: str, database: str, secrets: Mapping[str, Mapping[str, Any]], name: str
) -> Applied:
    """Run on the writer as the admin. `secrets`: role -> its secret (`username`, `password`)."""
    import psycopg

    applied = Applied(name)
    with psycopg.connect(conninfo, password=admin_password, autocommit=True) as conn:
        for statement in role_statements(database):
            conn.execute(statement.encode())
        applied.roles = list(ROLE_NAMES)
        for role in ROLE_NAMES:
            secret = secrets[role]
            if secret["username"] != role:
                raise ValueError(f"{name}: the secret of role {role} names user {secret['username']!r}")
            # \password's way: the server gets a SCRAM verifier computed by libpq, never the password itself.
            verifier = conn.pgconn.encrypt_password(str(secret["password"]).encode(), role.encode(), b"scram-sha-256")
            conn.execute(f"ALTER ROLE \"{role}\" PASSWORD '{verifier.decode()}'".encode())
            applied.passwords_set.append(role)
        for statement in AUDIT_STATEMENTS:
            conn.execute(statement.encode())
        applied.audit = True
    return applied
