"""The primary region's stacks: these tests are about its components; the warm standby in the DR region is
tests/components/dr's."""

import pytest

from scripts.preview.mock_engine import Evaluation
from tests.helpers import without_standby


@pytest.fixture(scope="session")
def prod(prod: Evaluation) -> Evaluation:
    return without_standby(prod)


@pytest.fixture(scope="session", params=["dev", "prod"])
def each_stack(request: pytest.FixtureRequest, prod: Evaluation, dev: Evaluation) -> Evaluation:
    # Its own, so the session cache does not hand these tests the whole prod stack another directory asked for.
    return {"dev": dev, "prod": prod}[request.param]
