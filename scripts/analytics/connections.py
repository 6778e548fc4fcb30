"""Where the migrations run: the writer of a `selfhosted.clusters[]` entry of the stack outputs (credentials from
its admin secret or libpq's environment) or a DSN, and the autocommit connection the runner needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row

from scripts.health.targets import Credentials, read_rds_secret

from .errors import MigrationError

APPLICATION_NAME = "cryb-db-analytics-migrate"


CONNECT_TIMEOUT_SECONDS = 10


def conninfo_from_outputs(
    outputs: Mapping[str, Any],
    cluster: str,
    *,
    credentials: Credentials,
    sslmode: str,
    sslrootcert: Path | None,
    secret_reader: Callable[[str], dict[str, str]] = read_rds_secret,
    shard: str | None = None,
) -> str:
    """libpq conninfo of the writer of `selfhosted.clusters[]` entry `cluster` (`pulumi stack output --json`), or
    with `shard` of that `postgres.shards[]` entry: a stack without an analytics cluster (dev, and so its local
    platform, docs/local.md) keeps its analytics tables in a shard."""
    if "selfhosted" not in outputs and "postgres" not in outputs and isinstance(outputs.get("outputs"), Mapping):
        outputs = outputs["outputs"]
    if shard is not None:
        entries, kind, wanted = _entries(outputs, "postgres", "shards"), "postgres.shards", shard
    else:
        entries, kind, wanted = _entries(outputs, "selfhosted", "clusters"), "selfhosted.clusters", cluster
    names = [str(c.get("name")) for c in entries]
    entry = next((c for c in entries if c.get("name") == wanted), None)
    if entry is None:
        option = "--shard" if shard is not None else "--cluster"
        hint = "; --shard NAME targets a postgres.shards[] entry" if shard is None and not names else ""
        raise MigrationError(f"{option}: {wanted!r} is not in {kind} (allowed: {', '.join(names) or 'none'}){hint}")
    missing = [k for k in ("writerEndpoint", "port", "databaseName", "secretArn") if k not in entry]
    if missing:
        raise MigrationError(f"--outputs: {kind}[{wanted}] has no {', '.join(missing)}")
    params: dict[str, Any] = {
        "host": entry["writerEndpoint"],
        "port": int(entry["port"]),
        "dbname": entry["databaseName"],
        "sslmode": sslmode,
    }
    if sslrootcert is not None:
        params["sslrootcert"] = str(sslrootcert)
    if credentials == Credentials.secret:
        secret = secret_reader(entry["secretArn"])
        params |= {"user": secret["username"], "password": secret["password"]}
    return make_conninfo(**params)


def _entries(outputs: Mapping[str, Any], section: str, key: str) -> list[Mapping[str, Any]]:
    try:
        return list(outputs[section][key])
    except (KeyError, TypeError):
        hint = " (no analytics cluster in this stack: --shard NAME targets a postgres.shards[] entry)"
        raise MigrationError(
            f"--outputs: no {section}.{key} in the outputs file (pulumi stack output --json)"
            + (hint if section == "selfhosted" else "")
        ) from None


def connect(conninfo: str) -> psycopg.Connection[DictRow]:
    return psycopg.Connection[DictRow].connect(
        conninfo,
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name=APPLICATION_NAME,
        row_factory=dict_row,
    )


def conninfo_label(conninfo: str) -> str:
    p = conninfo_to_dict(conninfo)
    return f"{p.get('host', 'local')}:{p.get('port', 5432)}/{p.get('dbname', '')}"
