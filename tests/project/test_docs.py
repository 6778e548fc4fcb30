"""Docs that are generated from code stay current."""

import re

from scripts.config_docs.generator import DOC_PATH, _stack_values, render


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


def test_every_key_the_stack_files_set_is_documented_with_its_value() -> None:
    """Nested sections (backups.plan.daily.*, selfhosted.clusters.<name>.*) are documented key by key."""
    text = render()
    documented = [m.group(1) for m in re.finditer(r"^\| `cryb-db:([^`]+)` \|", text, re.MULTILINE)]
    patterns = [re.compile("^" + re.escape(k).replace(re.escape("<name>"), "[^.]+") + "$") for k in documented]
    leaves = [path for path, values in _stack_values().items() if not any(isinstance(v, dict) for v in values.values())]
    assert "backups.plan.daily.schedule" in leaves and "selfhosted.clusters.analytics.instanceType" in leaves
    for path in leaves:
        assert any(p.match(path) for p in patterns), f"cryb-db:{path} is set by a stack file but not documented"
    assert "placeholder-set-with" not in text  # secret values are shown as (secret), never their ciphertext
    assert "prod: (secret)" in text


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_relative_links_in_readme_and_docs_resolve() -> None:
    root = DOC_PATH.parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path_part, _, anchor = target.partition("#")
            file = (page.parent / path_part).resolve() if path_part else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", file.read_text(), re.MULTILINE)
                if anchor not in {_anchor(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_a_key_whose_section_has_a_default_is_not_called_required() -> None:
    """`backups.plan.daily` has a default rule, so its `schedule` has a default too (the rule's): the reference
    shows it instead of **required**; keys without any default stay required."""
    text = DOC_PATH.read_text()
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[3].strip()
        for line in text.splitlines()
        if line.startswith("| `cryb-db:")
    }
    assert rows["cryb-db:backups.plan.daily.schedule"] == '`"cron(0 3 * * ? *)"`'
    assert rows["cryb-db:backups.plan.monthly.retentionDays"] == "`365`"
    assert "**required**" not in {v for k, v in rows.items() if k.startswith("cryb-db:backups.plan.")}


def test_docs_cite_nothing_a_reader_cannot_open() -> None:
    """No paths outside the repository (`../shared/...`) and no tracker issue numbers: readers have neither."""
    pattern = re.compile(r"\.\./shared|/work/|\bissue #?\d+|\b(this|that|a later|another|the [a-z-]+) issue\b", re.I)
    found = [
        f"{path.name}:{n}: {line.strip()[:80]}"
        for path in [DOC_PATH.parent.parent / "README.md", *sorted(DOC_PATH.parent.glob("*.md"))]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_every_workflow_variable_and_secret_is_listed_in_the_readme() -> None:
    """A workflow's `vars.X` / `secrets.X` must be set in the repository's settings: the README lists each."""
    root = DOC_PATH.parent.parent
    used = {
        (kind, name)
        for workflow in (root / ".github" / "workflows").glob("*.yml")
        for kind, name in re.findall(r"\$\{\{\s*(vars|secrets)\.([A-Z0-9_]+)\s*\}\}", workflow.read_text())
        if name != "GITHUB_TOKEN"
    }
    assert used, "no workflow settings found"
    readme = (root / "README.md").read_text()
    kinds = {"vars": "variable", "secrets": "secret"}
    missing = [f"{kind}.{name}" for kind, name in sorted(used) if f"| `{name}` | {kinds[kind]} |" not in readme]
    assert missing == []
