"""The ``moto_tls`` fixture: moto over verified TLS (scripts/servers/moto_tls.py) for the tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.servers.moto_tls import MotoTlsServer, moto_tls_server


@pytest.fixture(scope="module")
def moto_tls() -> Iterator[MotoTlsServer]:
    """moto over verified TLS (gunicorn) for the tests of a module; use ``ca_file``, ``endpoint``,
    ``boto3_client(...)``. Tests share its state: give buckets unique names or call ``reset()``."""
    with moto_tls_server() as server:
        yield server
