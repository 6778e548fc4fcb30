"""The mutation check's list (tests/mutation/mutations.py) still applies to the code: each mutation's text is in its
file exactly once and its tests exist, so `python -m tests.mutation` mutates what it says."""

import pytest

from scripts import PROJECT_DIR
from tests.mutation.mutations import MUTATIONS, Mutation


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_applies_once_and_names_existing_tests(mutation: Mutation) -> None:
    text = (PROJECT_DIR / mutation.path).read_text()
    assert text.count(mutation.find) == 1, f"{mutation.path}: update the mutation's `find`"
    assert mutation.find != mutation.replace
    assert all((PROJECT_DIR / target.split("::")[0]).exists() for target in mutation.tests)
