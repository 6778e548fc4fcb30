#!/usr/bin/python3
"""cryb-pg-credentials: keep a Patroni node's credentials equal to Secrets Manager.

See docs/selfhosted.md#credential-rotation.

Runs as root from a systemd timer on every node (and once at boot, before Patroni starts). Each run:

1. reads every credential secret of the cluster; the *effective* version of a secret is the one staged AWSPENDING
   while a rotation is in progress, else AWSCURRENT;
2. renders Patroni's credentials file (`secrets.yml` in Patroni's configuration directory: superuser, replication,
   rewind and REST API passwords) and the environment file (the admin password for post_bootstrap); if either
   changed, writes it atomically and reloads Patroni, which reconnects and rewrites primary_conninfo with them;
3. on the leader only (its REST API answers 200 on /primary): logs in over TCP as every database role with its
   effective password; where that fails it sets the password with ALTER ROLE through the local socket (as a SCRAM
   verifier computed here, so no plain password reaches the server's logs or pg_stat_statements) and logs in
   again; the change replicates to the other nodes with the WAL. A pending password is set only once every node
   runs with it, so the time in which only the new password works while AWSCURRENT still names the old one is
   one poll of the rotation function (components/selfhosted/rotation_function/, every 2 seconds);
4. acknowledges a pending version on the secret itself: tag `cryb-rotation-<node>` once this node runs with it,
   and `cryb-rotation-leader` once the leader has logged in with it. The rotation function moves AWSCURRENT only
   when every node and the leader have.

The agent keeps no state: a replaced node, a failover in the middle of a rotation or a cancelled rotation (the
pending version disappears, the current one is effective again) all converge on the next run. Passwords are never
logged, nor passed on a command line.
"""

from __future__ import annotations

import argparse
import base64
import grp
import hashlib
import hmac
import json
import logging
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("cryb-pg-credentials")
PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
TAG_PREFIX = "cryb-rotation-"
LEADER_TAG = f"{TAG_PREFIX}leader"
# Secrets the agent keeps in sync, by purpose (the `secret-purpose` tag and the keys of `secrets` in the config).
DATABASE_ROLES = ("superuser", "replication", "rewind", "admin")
KEYS = ("superuser", "replication", "rewind", "restapi", "admin")
SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations


class AgentError(Exception):
    """A run cannot go on. Messages name secrets, versions and roles, never a password."""


@dataclass(frozen=True)
class AgentConfig:
    """/etc/cryb-db/credentials-agent.json, written by the node's user data (components/selfhosted/cloud_init.py)."""

    region: str
    node: str
    secrets: dict[str, str]
    """Secret ARN by purpose: superuser, replication, rewind, restapi, admin."""
    patroni_secrets_file: str
    env_file: str
    file_group: str
    reload_command: list[str]
    restapi_url: str
    nodes: list[str]
    """Every node of the cluster: the leader sets a new password only once all of them run with it."""
    host: str
    """The node's own address: the leader proves each password by logging in here over TCP, as clients do."""
    port: int
    socket_dir: str
    database: str
    """The database the admin role logs in to."""
    os_user: str = "postgres"
    psql: str = "psql"
    endpoint_url: str | None = None

    @classmethod
    def load(cls, path: str) -> AgentConfig:
        data = json.loads(Path(path).read_text())
        missing = sorted(set(KEYS) - set(data.get("secrets", {})))
        if missing:
            raise AgentError(f"{path}: no secret ARN for {', '.join(missing)}")
        return cls(**data)


@dataclass(frozen=True)
class Credential:
    key: str
    arn: str
    username: str
    password: str
    version: str
    pending: bool
    """The effective version is a pending rotation's."""
    tags: dict[str, str]


# -- pure parts ---------------------------------------------------------------------------------------------------
def current_version(versions: dict[str, list[str]]) -> str:
    current = next((v for v, stages in versions.items() if CURRENT in stages), None)
    if current is None:
        raise AgentError("the secret has no AWSCURRENT version")
    return current


def effective_version(versions: dict[str, list[str]]) -> tuple[str, bool]:
    """(version id, is pending): the AWSPENDING version while a rotation is in progress, else AWSCURRENT."""
    current = current_version(versions)
    pending = next((v for v, stages in versions.items() if PENDING in stages), None)
    if pending is not None and pending != current:
        return pending, True
    return current, False


def render_patroni_secrets(passwords: dict[str, str]) -> str:
    """Patroni's credentials file. JSON is YAML, and Patroni merges this file over patroni.yml (same directory,
    later in alphabetical order)."""
    auth = {key: {"password": passwords[key]} for key in ("superuser", "replication", "rewind")}
    document = {
        "restapi": {"authentication": {"password": passwords["restapi"]}},
        "postgresql": {"authentication": auth},
    }
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def render_env(passwords: dict[str, str]) -> str:
    """Environment of the Patroni unit: only what post_bootstrap needs (Patroni's own passwords are in the file,
    because Patroni re-reads files on reload but never its environment)."""
    return f"CRYB_ADMIN_PASSWORD={passwords['admin']}\n"


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores in pg_authid (RFC 5802/7677), computed client side like
    libpq's PQencryptPasswordConn. SASLprep is the identity for the ASCII passwords this platform generates."""
    if not password or not password.isascii() or not password.isprintable():
        raise AgentError("a password must be printable ASCII (SASLprep is not implemented here)")
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def alter_role_sql(username: str, password: str) -> str:
    """ALTER ROLE with a verifier, with statement logging and pg_stat_statements' utility tracking off for it."""
    if not username.replace("_", "").isalnum():
        raise AgentError(f"role name {username!r} is not a plain identifier")
    return (
        "SET log_statement = 'none';\n"
        "SET pg_stat_statements.track_utility = off;\n"
        f"ALTER ROLE \"{username}\" PASSWORD '{scram_verifier(password)}';\n"
    )


def node_acknowledgement(node: str, credential: Credential) -> dict[str, str]:
    """The tag this node owes a pending version once it runs with it (nothing once the rotation has finished)."""
    name = f"{TAG_PREFIX}{node}"
    if not credential.pending or credential.tags.get(name) == credential.version:
        return {}
    return {name: credential.version}


def leader_acknowledgement(credential: Credential) -> dict[str, str]:
    """The tag the leader owes a pending version of a database role once it has logged in with it."""
    if not credential.pending or credential.key not in DATABASE_ROLES:
        return {}
    if credential.tags.get(LEADER_TAG) == credential.version:
        return {}
    return {LEADER_TAG: credential.version}


def nodes_not_acknowledged(nodes: list[str], credential: Credential) -> list[str]:
    """Nodes not yet running with a pending version (none when the version is not pending: a current password is
    set at once, e.g. after a cancelled rotation)."""
    if not credential.pending:
        return []
    return [node for node in nodes if credential.tags.get(f"{TAG_PREFIX}{node}") != credential.version]


# -- the node -----------------------------------------------------------------------------------------------------
class Agent:
    def __init__(self, config: AgentConfig, secretsmanager: Any):
        self.config = config
        self.secretsmanager = secretsmanager

    def read(self) -> dict[str, Credential]:
        found = {}
        for key in KEYS:
            arn = self.config.secrets[key]
            metadata = self.secretsmanager.describe_secret(SecretId=arn)
            try:
                version, pending = effective_version(metadata.get("VersionIdsToStages", {}))
            except AgentError as exc:
                raise AgentError(f"secret {key} ({arn}): {exc}") from None
            try:
                value = self.secretsmanager.get_secret_value(SecretId=arn, VersionId=version)
            except self.secretsmanager.exceptions.ResourceNotFoundException:
                if not pending:
                    raise
                # An AWSPENDING version with no value: a failed rotation, or Secrets Manager testing the rotation
                # configuration. Nothing to apply; the current version stays effective.
                version, pending = current_version(metadata.get("VersionIdsToStages", {})), False
                value = self.secretsmanager.get_secret_value(SecretId=arn, VersionId=version)
            try:
                data = json.loads(value["SecretString"])
                username, password = data["username"], data["password"]
            except (KeyError, TypeError, ValueError):
                raise AgentError(f"version {version} of secret {key} is not JSON with username and password") from None
            tags = {t["Key"]: t["Value"] for t in metadata.get("Tags", [])}
            found[key] = Credential(key, arn, username, password, version, pending, tags)
        return found

    def write_files(self, credentials: dict[str, Credential]) -> bool:
        """Write what differs (root-owned, readable by the service group only); True if anything was written."""
        changed = False
        passwords = {key: c.password for key, c in credentials.items()}
        for path, text in (
            (self.config.patroni_secrets_file, render_patroni_secrets(passwords)),
            (self.config.env_file, render_env(passwords)),
        ):
            target = Path(path)
            if target.exists() and target.read_text() == text:
                continue
            # A dot-name without the .yml suffix: Patroni, reloading meanwhile, never reads a half-written file.
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.chmod(temporary, 0o640)
                if os.geteuid() == 0:
                    os.chown(temporary, 0, grp.getgrnam(self.config.file_group).gr_gid)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            changed = True
            LOG.info("wrote %s", path)
        return changed

    def reload_patroni(self) -> None:
        result = subprocess.run(self.config.reload_command, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            # Patroni not running yet (boot) or stopped: it reads the files when it starts.
            LOG.warning("reloading Patroni failed (%s): %s", result.returncode, result.stderr.strip())
        else:
            LOG.info("Patroni reloaded")

    def is_leader(self) -> bool:
        url = self.config.restapi_url.rstrip("/") + "/primary"
        # The node's own REST API with its self-signed certificate: the health checks do not verify either.
        context = ssl._create_unverified_context() if url.startswith("https") else None
        try:
            with urllib.request.urlopen(url, timeout=3, context=context) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return False
        except OSError as exc:
            LOG.info("Patroni REST API not answering (%s): not acting as leader", exc)
            return False

    def _psql(self, args: list[str], *, sql: str | None = None, password: str | None = None, as_os_user: bool):
        command = [self.config.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args]
        if as_os_user and os.geteuid() == 0:
            command = ["runuser", "-u", self.config.os_user, "--", *command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        with tempfile.TemporaryDirectory(prefix="cryb-pgpass-") as private:
            if password is not None:
                passfile = Path(private) / "pgpass"
                escaped = password.replace("\\", "\\\\").replace(":", "\\:")
                passfile.write_text(f"*:*:*:*:{escaped}\n")
                passfile.chmod(0o600)
                env["PGPASSFILE"] = str(passfile)
            return subprocess.run(command, input=sql, capture_output=True, text=True, env=env, timeout=30)

    def can_log_in(self, credential: Credential) -> bool:
        """Log in over TCP to this node as the role, with the effective password (a replication connection for the
        replication role, which may not open a normal session)."""
        database = self.config.database if credential.key == "admin" else "postgres"
        conninfo = (
            f"host={self.config.host} port={self.config.port} user={credential.username} dbname={database} "
            "connect_timeout=5 sslmode=prefer"
        )
        if credential.key == "replication":
            result = self._psql(
                ["-tA", "-d", conninfo + " replication=true", "-c", "IDENTIFY_SYSTEM"],
                password=credential.password,
                as_os_user=False,
            )
        else:
            result = self._psql(
                ["-tA", "-d", conninfo, "-c", "SELECT 1"], password=credential.password, as_os_user=False
            )
        return result.returncode == 0

    def set_password(self, credential: Credential) -> None:
        result = self._psql(
            ["-h", self.config.socket_dir, "-p", str(self.config.port), "-U", "postgres", "-d", "postgres"],
            sql=alter_role_sql(credential.username, credential.password),
            as_os_user=True,
        )
        if result.returncode != 0:
            raise AgentError(f"ALTER ROLE {credential.username} failed: {result.stderr.strip()}")
        LOG.info("set the password of role %s to version %s of its secret", credential.username, credential.version)

    def acknowledge(self, credential: Credential, tags: dict[str, str], report: dict[str, Any]) -> None:
        if not tags:
            return
        self.secretsmanager.tag_resource(
            SecretId=credential.arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
        credential.tags.update(tags)
        report["tagged"].setdefault(credential.key, {}).update(tags)
        LOG.info("acknowledged version %s of secret %s: %s", credential.version, credential.key, ", ".join(tags))

    def run(self, *, reload: bool = True) -> dict[str, Any]:
        """One pass; returns what it did (for the log and the tests)."""
        credentials = self.read()
        report: dict[str, Any] = {
            "wrote": False,
            "leader": False,
            "altered": [],
            "failed": [],
            "waiting": {},
            "tagged": {},
        }
        if self.write_files(credentials):
            report["wrote"] = True
            if reload:
                self.reload_patroni()
        for credential in credentials.values():
            self.acknowledge(credential, node_acknowledgement(self.config.node, credential), report)
        if not (reload and self.is_leader()):
            return report
        report["leader"] = True
        for key in DATABASE_ROLES:
            credential = credentials[key]
            if not self.can_log_in(credential):
                waiting = nodes_not_acknowledged(self.config.nodes, credential)
                if waiting:
                    # Clients keep the current password until every node runs with the new one: then the window
                    # in which only the new one works is the rotation function's last poll, seconds.
                    LOG.info("version %s of %s: waiting for %s", credential.version, key, ", ".join(waiting))
                    report["waiting"][key] = waiting
                    continue
                try:
                    self.set_password(credential)
                except AgentError as exc:
                    if "read-only transaction" in str(exc) or not self.is_leader():
                        # A failover under way: Patroni answers /primary as soon as it holds the leader lock, before
                        # PostgreSQL has left recovery, and a demoted node answered it a moment ago. The leader's
                        # next run (the timer) sets the password.
                        LOG.info("not the writable leader right now (%s): the leader's next run sets it", exc)
                        report["leader"] = False
                        return report
                    LOG.error("%s", exc)
                    report["failed"].append(key)
                    continue
                report["altered"].append(key)
                if not self.can_log_in(credential):
                    LOG.error("role %s still cannot log in over TCP after ALTER ROLE", credential.username)
                    report["failed"].append(key)
                    continue
            self.acknowledge(credential, leader_acknowledgement(credential), report)
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cryb-pg-credentials", description="Keep this node's Patroni credentials equal to Secrets Manager."
    )
    parser.add_argument("--config", default="/etc/cryb-db/credentials-agent.json")
    parser.add_argument(
        "--boot", action="store_true", help="write the files only: Patroni is not running yet (first boot)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):  # botocore's DEBUG would print secret values
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        config = AgentConfig.load(args.config)
        client = boto3.client("secretsmanager", region_name=config.region, endpoint_url=config.endpoint_url)
        report = Agent(config, client).run(reload=not args.boot)
    except (AgentError, OSError, ValueError, TypeError) as exc:  # TypeError: a field missing from the config
        LOG.error("%s", exc)
        return 1
    except (BotoCoreError, ClientError) as exc:  # Secrets Manager unreachable or refusing: the next run retries
        LOG.error("Secrets Manager: %s", exc)
        return 1
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
