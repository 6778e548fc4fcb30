"""Docs that are generated from code stay current."""

from scripts.config_docs import DOC_PATH, render


def test_configuration_reference_is_current() -> None:
    assert DOC_PATH.read_text() == render(), "docs/configuration.md is stale: run `python -m scripts config-docs`"


def test_configuration_reference_documents_every_section_key() -> None:
    text = render()
    for key in (
        "cryb-db:environment",
        "cryb-db:network.azCount",
        "cryb-db:network.cidr",
        "cryb-db:kms.deletionWindowDays",
        "cryb-db:postgres.port",
        "cryb-db:cache.port",
    ):
        assert f"`{key}`" in text
    assert "**required**" in text
