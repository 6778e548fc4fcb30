"""A launch template's `userData` as the preview records it: base64 of (optionally gzip'd) `#cloud-config`."""

from __future__ import annotations

import base64
import binascii
import gzip
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

# The cloud-config keys the sandbox applies; anything else in the user data would be silently ignored, so it fails.
SUPPORTED_KEYS = frozenset({"write_files", "runcmd"})
SUPPORTED_FILE_KEYS = frozenset({"path", "content", "permissions", "owner"})


class UserDataError(ValueError):
    """The user data is not something this sandbox can boot faithfully."""


@dataclass(frozen=True)
class WrittenFile:
    """One `write_files` entry: cloud-init writes it as root with these permissions and owner."""

    path: str
    content: str
    permissions: int = 0o644
    owner: str = "root:root"

    @property
    def user(self) -> str:
        return self.owner.split(":", 1)[0]

    @property
    def group(self) -> str:
        parts = self.owner.split(":", 1)
        return parts[1] if len(parts) == 2 else parts[0]


@dataclass(frozen=True)
class CloudConfig:
    files: tuple[WrittenFile, ...]
    runcmd: tuple[tuple[str, ...], ...]
    """Each command as argv; a string entry runs through `sh -c`, as cloud-init does."""

    def file(self, path: str) -> WrittenFile:
        for written in self.files:
            if written.path == path:
                return written
        raise KeyError(path)


def decode_user_data(encoded: str) -> str:
    """The `#cloud-config` text: base64-decoded, then gunzipped when gzip'd (cloud-init detects the magic bytes)."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UserDataError(f"user data is not base64: {exc}") from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode()


def _command(entry: Any) -> tuple[str, ...]:
    if isinstance(entry, str):
        return ("sh", "-c", entry)
    if isinstance(entry, list) and entry and all(isinstance(part, str) for part in entry):
        return tuple(entry)
    raise UserDataError(f"runcmd entry {entry!r}: must be a string or a list of strings")


def parse_cloud_config(text: str) -> CloudConfig:
    if not text.startswith("#cloud-config"):
        raise UserDataError("user data does not start with #cloud-config")
    document = yaml.safe_load(text) or {}
    unknown = sorted(set(document) - SUPPORTED_KEYS)
    if unknown:
        raise UserDataError(f"cloud-config keys the sandbox does not apply: {', '.join(unknown)}")
    files = []
    for entry in document.get("write_files", []):
        extra = sorted(set(entry) - SUPPORTED_FILE_KEYS)
        if extra:
            raise UserDataError(f"write_files {entry.get('path')}: unsupported keys {', '.join(extra)}")
        files.append(
            WrittenFile(
                path=entry["path"],
                content=entry.get("content", ""),
                permissions=int(str(entry.get("permissions", "0644")), 8),
                owner=entry.get("owner", "root:root"),
            )
        )
    runcmd = tuple(_command(entry) for entry in document.get("runcmd", []))
    return CloudConfig(files=tuple(files), runcmd=runcmd)


def describe(config: CloudConfig) -> str:
    lines = [f"{f.path} {f.permissions:04o} {f.owner} ({len(f.content)} bytes)" for f in config.files]
    lines += [f"runcmd: {shlex.join(cmd)}" for cmd in config.runcmd]
    return "\n".join(lines)
