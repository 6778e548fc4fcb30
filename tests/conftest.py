"""Fixtures shared by the whole suite; the real-server fixtures come from tests/servers/fixtures.py."""

import pytest

from scripts.preview.mock_engine import Evaluation, evaluate

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture(scope="session")
def prod() -> Evaluation:
    """The real program evaluated with Pulumi.prod.yaml (once per test session)."""
    return evaluate("prod")


@pytest.fixture(scope="session")
def dev() -> Evaluation:
    """The real program evaluated with Pulumi.dev.yaml (once per test session)."""
    return evaluate("dev")


@pytest.fixture(scope="session", params=["dev", "prod"])
def each_stack(request: pytest.FixtureRequest, prod: Evaluation, dev: Evaluation) -> Evaluation:
    return {"dev": dev, "prod": prod}[request.param]
