#!/usr/bin/python3
"""cryb-cache-credentials: keep a self-hosted cache node's ACL passwords equal to Secrets Manager.

See docs/cache.md#self-hosted-password-rotation.

Runs as the server's user from a systemd timer on every node (and once at first boot, as root, before the server
starts: `--boot` writes the files only). Each run:

1. reads every ACL user's secret (app, reader, admin, replicator): its AWSCURRENT version and, while a rotation is in
   progress, its AWSPENDING version (one with a value);
2. the passwords a user must accept are the current one and the pending one: during a rotation both authenticate,
   so clients holding either keep working; once the rotation has finished only the new current one does. It writes
   them as SHA-256 hashes into the ACL file (from the template cloud-init wrote) and the replication password
   (`masterauth`) into the include file, so a restarted server starts with them;
3. logs in to the local server over TLS as `admin` and sets the users whose passwords differ with one
   `ACL SETUSER <user> resetpass #<hash> [#<hash>]` each (atomic: no moment without a working password; existing
   connections stay authenticated), then `CONFIG SET masterauth` where it differs. `masterauth` is the pending
   replication password only once every node has acknowledged it (every master accepts it), else the current one;
4. acknowledges a pending version on the secret itself: tag `cryb-rotation-<node>` = version once the server holds
   its password. The rotation function (components/cache/node_rotation_function/) moves AWSCURRENT only when every
   node has.

The agent keeps no state: a rebooted or replaced node, a node that missed a rotation, or a cancelled rotation (the
pending version disappears) all converge on the next run. Passwords are never logged, nor passed on a command line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import ssl
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger("cryb-cache-credentials")
PENDING, CURRENT, PREVIOUS = "AWSPENDING", "AWSCURRENT", "AWSPREVIOUS"
TAG_PREFIX = "cryb-rotation-"
USERS = ("app", "reader", "admin", "replicator")
PLACEHOLDER = "#@@SHA256:{user}@@"
"""Where each user's password hashes go in the ACL template (components/cache/redis_conf.acl_template)."""


class AgentError(Exception):
    """A run cannot go on. Messages name secrets, versions and users, never a password."""


@dataclass(frozen=True)
class AgentConfig:
    """/etc/cryb-cache/credentials-agent.json, written by the node's user data (components/cache/cloud_init.py)."""

    region: str
    node: str
    nodes: list[str]
    """Every node of the cluster (plan names): masterauth follows a pending password once all of them accept it."""
    secrets: dict[str, str]
    """Secret ARN by user: app, reader, admin, replicator."""
    acl_template: str
    acl_file: str
    secrets_include: str
    port: int
    ca_file: str
    host: str = "127.0.0.1"
    endpoint_url: str | None = None

    @classmethod
    def load(cls, path: str) -> AgentConfig:
        data = json.loads(Path(path).read_text())
        missing = sorted(set(USERS) - set(data.get("secrets", {})))
        if missing:
            raise AgentError(f"{path}: no secret ARN for {', '.join(missing)}")
        return cls(**data)


@dataclass(frozen=True)
class UserSecret:
    user: str
    arn: str
    current: str
    """The AWSCURRENT password."""
    pending: str | None
    """The AWSPENDING password while a rotation is in progress (a version with a value), else None."""
    pending_version: str | None
    tags: dict[str, str]
    previous: str | None = None
    """The AWSPREVIOUS password: only to log in as admin on a server that missed the last rotation."""


# -- pure parts ---------------------------------------------------------------------------------------------------
def stage_versions(versions: dict[str, list[str]]) -> tuple[str, str | None]:
    """(AWSCURRENT version, AWSPENDING version when it is another one, else None)."""
    current = next((v for v, stages in versions.items() if CURRENT in stages), None)
    if current is None:
        raise AgentError("the secret has no AWSCURRENT version")
    pending = next((v for v, stages in versions.items() if PENDING in stages), None)
    return current, (pending if pending != current else None)


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def accepted_hashes(secret: UserSecret) -> list[str]:
    """The hashes the user must accept: the current password's, and the pending one's during a rotation."""
    hashes = [password_hash(secret.current)]
    if secret.pending is not None and secret.pending != secret.current:
        hashes.append(password_hash(secret.pending))
    return hashes


def render_acl_file(template: str, hashes: dict[str, list[str]]) -> str:
    """The ACL file: each user's placeholder replaced by `#<hash>` per accepted password."""
    text = template
    for user in USERS:
        placeholder = PLACEHOLDER.format(user=user)
        if placeholder not in text:
            raise AgentError(f"the ACL template has no password placeholder for {user}")
        text = text.replace(placeholder, " ".join(f"#{digest}" for digest in hashes[user]))
    if "@@SHA256:" in text:
        raise AgentError("the ACL template still has placeholders")
    return text


def masterauth(replicator: UserSecret, nodes: list[str]) -> str:
    """The password replicas log in to their master with: the pending one once every node accepts it (all
    acknowledged), else the current one."""
    if replicator.pending is not None and replicator.pending_version is not None:
        acknowledged = all(replicator.tags.get(f"{TAG_PREFIX}{n}") == replicator.pending_version for n in nodes)
        if acknowledged:
            return replicator.pending
    return replicator.current


def render_secrets_include(password: str) -> str:
    if not password or not password.isascii() or not password.isprintable() or '"' in password or "\\" in password:
        raise AgentError("the replicator password must be printable ASCII without quotes or backslashes")
    return f'masterauth "{password}"\n'


def setuser_command(user: str, hashes: list[str]) -> list[str]:
    return ["ACL", "SETUSER", user, "resetpass", *(f"#{digest}" for digest in hashes)]


def live_hashes(getuser_reply: Any) -> set[str]:
    """The password hashes of an `ACL GETUSER` reply (RESP2: a flat list of field, value)."""
    if not isinstance(getuser_reply, list):
        raise AgentError("ACL GETUSER: the user does not exist")
    fields = dict(zip(getuser_reply[::2], getuser_reply[1::2], strict=True))
    return set(fields.get("passwords") or [])


def acknowledgement(node: str, secret: UserSecret, live: set[str]) -> dict[str, str]:
    """The tag this node owes a pending version once its server accepts the pending password."""
    if secret.pending is None or secret.pending_version is None:
        return {}
    name = f"{TAG_PREFIX}{node}"
    if secret.tags.get(name) == secret.pending_version or password_hash(secret.pending) not in live:
        return {}
    return {name: secret.pending_version}


# -- the server -----------------------------------------------------------------------------------------------------
def encode(*args: str) -> bytes:
    return b"".join([f"*{len(args)}\r\n".encode()] + [f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args])


def read_reply(stream: Any) -> Any:
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:].decode()
    if kind in (b"+", b":"):
        return rest
    if kind == b"-":
        raise AgentError(f"server error: {rest.split(' ', 1)[0]}")  # the code only: never echo an argument
    if kind == b"$":
        return None if rest == "-1" else stream.read(int(rest) + 2)[:-2].decode()
    if kind == b"*":
        return None if rest == "-1" else [read_reply(stream) for _ in range(int(rest))]
    raise AgentError(f"unexpected reply {line[:20]!r}")


class Server:
    """The local server over TLS, logged in as admin with the first of `passwords` it accepts."""

    def __init__(self, config: AgentConfig, passwords: list[str]) -> None:
        context = ssl.create_default_context(cafile=config.ca_file)
        context.check_hostname = False  # the node's certificate names its VPC address, not 127.0.0.1
        for password in passwords:
            raw = socket.create_connection((config.host, config.port), timeout=5)
            self.sock = context.wrap_socket(raw)
            self.stream = self.sock.makefile("rb")
            try:
                self.call("AUTH", "admin", password)
                return
            except AgentError:
                self.sock.close()
        raise AgentError("the server accepts none of admin's current, pending and previous passwords")

    def call(self, *args: str) -> Any:
        self.sock.sendall(encode(*args))
        return read_reply(self.stream)

    def close(self) -> None:
        self.sock.close()


# -- the node -----------------------------------------------------------------------------------------------------
class Agent:
    def __init__(self, config: AgentConfig, secretsmanager: Any):
        self.config = config
        self.secretsmanager = secretsmanager

    def _password(self, user: str, arn: str, **version: str) -> str:
        value = self.secretsmanager.get_secret_value(SecretId=arn, **version)
        try:
            password = json.loads(value["SecretString"])["password"]
        except (KeyError, TypeError, ValueError):
            raise AgentError(f"secret of {user} ({version}) is not JSON with a password") from None
        if not isinstance(password, str) or not password:
            raise AgentError(f"secret of {user} ({version}) has an empty password")
        return password

    def read(self) -> dict[str, UserSecret]:
        found = {}
        missing = self.secretsmanager.exceptions.ResourceNotFoundException
        for user in USERS:
            arn = self.config.secrets[user]
            metadata = self.secretsmanager.describe_secret(SecretId=arn)
            versions = metadata.get("VersionIdsToStages", {})
            try:
                current_version, pending_version = stage_versions(versions)
            except AgentError as exc:
                raise AgentError(f"secret of {user} ({arn}): {exc}") from None
            current = self._password(user, arn, VersionId=current_version)
            pending = None
            if pending_version is not None:
                try:
                    pending = self._password(user, arn, VersionId=pending_version)
                except missing:
                    # No value: a failed rotation, or Secrets Manager testing the rotation configuration.
                    pending_version = None
            previous = None
            if user == "admin" and any(PREVIOUS in stages for stages in versions.values()):
                previous = self._password(user, arn, VersionStage=PREVIOUS)
            tags = {t["Key"]: t["Value"] for t in metadata.get("Tags", [])}
            found[user] = UserSecret(user, arn, current, pending, pending_version, tags, previous)
        return found

    def write_files(self, secrets: dict[str, UserSecret]) -> list[str]:
        """Write what differs (mode 0600, atomically); returns the paths written."""
        template = Path(self.config.acl_template).read_text()
        texts = {
            self.config.acl_file: render_acl_file(template, {u: accepted_hashes(s) for u, s in secrets.items()}),
            self.config.secrets_include: render_secrets_include(masterauth(secrets["replicator"], self.config.nodes)),
        }
        written = []
        for path, text in texts.items():
            target = Path(path)
            if target.exists() and target.read_text() == text:
                continue
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
                os.chmod(temporary, 0o600)
                if target.exists():  # keep the owner cloud-init gave it (the server's user) when run as root
                    status = target.stat()
                    if os.geteuid() == 0:
                        os.chown(temporary, status.st_uid, status.st_gid)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            written.append(path)
            LOG.info("wrote %s", path)
        return written

    def acknowledge(self, secret: UserSecret, tags: dict[str, str], report: dict[str, Any]) -> None:
        if not tags:
            return
        self.secretsmanager.tag_resource(SecretId=secret.arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        secret.tags.update(tags)
        report["tagged"][secret.user] = dict(tags)
        LOG.info("acknowledged version %s of the secret of %s", secret.pending_version, secret.user)

    def run(self, *, boot: bool = False) -> dict[str, Any]:
        """One pass; returns what it did (for the log and the tests)."""
        secrets = self.read()
        report: dict[str, Any] = {"wrote": [], "altered": [], "masterauth": False, "tagged": {}}
        if boot:
            report["wrote"] = self.write_files(secrets)
            return report
        admin = secrets["admin"]
        candidates = [p for p in (admin.current, admin.pending, admin.previous) if p is not None]
        server = Server(self.config, candidates)
        try:
            for user, secret in secrets.items():
                wanted = accepted_hashes(secret)
                live = live_hashes(server.call("ACL", "GETUSER", user))
                if live != set(wanted):
                    server.call(*setuser_command(user, wanted))
                    live = live_hashes(server.call("ACL", "GETUSER", user))
                    report["altered"].append(user)
                    LOG.info("%s accepts %d password(s) now", user, len(wanted))
                self.acknowledge(secret, acknowledgement(self.config.node, secret, live), report)
            report["wrote"] = self.write_files(secrets)
            replication = masterauth(secrets["replicator"], self.config.nodes)
            if (server.call("CONFIG", "GET", "masterauth") or ["", ""])[1] != replication:
                server.call("CONFIG", "SET", "masterauth", replication)
                report["masterauth"] = True
                LOG.info("masterauth follows the replicator's %s password", "pending" if replication == secrets[
                    "replicator"].pending else "current")  # fmt: skip
        finally:
            server.close()
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cryb-cache-credentials", description="Keep this cache node's ACL passwords equal to Secrets Manager."
    )
    parser.add_argument("--config", default="/etc/cryb-cache/credentials-agent.json")
    parser.add_argument("--boot", action="store_true", help="write the files only: the server is not running yet")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):  # botocore's DEBUG would print secret values
        logging.getLogger(noisy).setLevel(logging.WARNING)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        config = AgentConfig.load(args.config)
        endpoint = config.endpoint_url or os.environ.get("CRYB_AWS_ENDPOINT")
        client = boto3.client("secretsmanager", region_name=config.region, endpoint_url=endpoint)
        report = Agent(config, client).run(boot=args.boot)
    except (AgentError, OSError, ValueError, TypeError) as exc:  # TypeError: a field missing from the config
        LOG.error("%s", exc)
        return 1
    except (BotoCoreError, ClientError) as exc:  # Secrets Manager unreachable or refusing: the next run retries
        LOG.error("Secrets Manager: %s", exc)
        return 1
    LOG.info("run: %s", json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
