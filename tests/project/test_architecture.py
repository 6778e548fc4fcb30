"""The tree shows the architecture: components/ is one package per concern, nothing else at its top, and each
package imports only what its docstring's "May import:" line allows (so the map in docs/architecture.md stays
true)."""

import ast
import re

import pytest

from scripts import PROJECT_DIR
from scripts.preview.mock_engine import Evaluation

COMPONENTS = PROJECT_DIR / "components"
PACKAGES = sorted(p.name for p in COMPONENTS.iterdir() if (p / "__init__.py").is_file())


def _allowed_imports(package: str) -> set[str]:
    doc = ast.get_docstring(ast.parse((COMPONENTS / package / "__init__.py").read_text())) or ""
    match = re.search(r"May import:(.*?)(?:Imported by:|$)", doc, re.S)
    assert match, f"components/{package}/__init__.py: the docstring has no 'May import:' line"
    return set(re.findall(r"`components\.(\w+)`", match.group(1)))


def component_packages_imported(source: str) -> set[str]:
    """The `components.<package>` names a module's absolute imports reach (relative imports stay in the package)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name.split(".")[1] for name in names if name.startswith("components.")}
    return found


def _imported_packages(package: str) -> dict[str, set[str]]:
    """Other component packages each module of `package` imports: module path -> packages."""
    return {
        str(path.relative_to(PROJECT_DIR)): component_packages_imported(path.read_text()) - {package}
        for path in (COMPONENTS / package).rglob("*.py")
    }


def test_nothing_but_packages_at_the_top_of_components() -> None:
    modules = sorted(p.name for p in COMPONENTS.glob("*.py") if p.name != "__init__.py")
    assert modules == [], "put each module in the package of its concern"
    assert {"network", "security", "postgres", "selfhosted", "cache", "backups", "monitoring"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_owns_and_imports(package: str) -> None:
    doc = ast.get_docstring(ast.parse((COMPONENTS / package / "__init__.py").read_text())) or ""
    for heading in ("Owns:", "May import:", "Imported by:"):
        assert heading in doc, f"components/{package}/__init__.py: docstring lacks {heading!r}"


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_its_docstring_allows(package: str) -> None:
    allowed = _allowed_imports(package)
    assert set(allowed) <= set(PACKAGES), f"{package} allows unknown packages {allowed - set(PACKAGES)}"
    unexpected = {module: sorted(used - allowed) for module, used in _imported_packages(package).items()}
    assert {module: used for module, used in unexpected.items() if used} == {}


def test_the_check_sees_every_form_of_import() -> None:
    source = "from components.cache.redis_conf import X\nimport components.network.plan\nimport os\nfrom .x import y\n"
    assert component_packages_imported(source) == {"cache", "network"}
    assert "cache" not in _allowed_imports("postgres")  # so postgres importing the cache would fail the test above


SCRIPTS = PROJECT_DIR / "scripts"
SCRIPTS_THAT_MAY_IMPORT_TESTS = {"bench"}
"""The benches drive the tests' server rigs (tests/servers: Patroni drills, pgBackRest PITR, PostgreSQL factories),
as CI's bench runs do; an operator command (`local`, `health`, `analytics`, ...) never depends on tests/."""


def imported_modules(source: str) -> set[str]:
    """Every absolute module name a source imports, at any depth (lazy imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_scripts_do_not_import_tests_except_the_benches() -> None:
    offenders = {
        str(path.relative_to(PROJECT_DIR)): sorted(
            m for m in imported_modules(path.read_text()) if m.split(".")[0] == "tests"
        )
        for path in SCRIPTS.rglob("*.py")
        if path.relative_to(SCRIPTS).parts[0] not in SCRIPTS_THAT_MAY_IMPORT_TESTS
    }
    assert {module: used for module, used in offenders.items() if used} == {}
    assert imported_modules("def f():\n    from tests.servers.ports import free_port\n") == {"tests.servers.ports"}


# Type tokens are part of the URNs of live resources (urn:pulumi:<stack>::cryb-db::<parent token>$<type>::<name>):
# changing one, e.g. when a module moves, replaces every child on `pulumi up` unless the component gets `aliases`.
COMPONENT_TYPE_TOKENS = {
    "KmsKeys": "cryb:kms:KmsKeys",
    "Network": "cryb:network:Network",
    "AlertTopics": "cryb:alerts:AlertTopics",
    "Postgres": "cryb:postgres:Postgres",
    "Backups": "cryb:backups:Backups",
    "Cache": "cryb:cache:Cache",
    "CacheUserRotation": "cryb:cache_rotation:CacheUserRotation",
    "SelfHostedCluster": "cryb:postgres_selfhosted:SelfHostedCluster",
    "SelfHostedCredentialRotation": "cryb:selfhosted_rotation:SelfHostedCredentialRotation",
    "Monitoring": "cryb:monitoring:Monitoring",
    "ApplicationAccess": "cryb:kubernetes:ApplicationAccess",
    "PgBouncerPoolers": "cryb:kubernetes:PgBouncerPoolers",
    "RegionStandby": "cryb:dr:RegionStandby",
    "CodeSigning": "cryb:signing:CodeSigning",
}


def test_component_type_tokens_never_change(prod: Evaluation) -> None:
    declared = {r.type.split(":")[-1]: r.type for r in prod.resources if r.type.startswith("cryb:")}
    assert declared == COMPONENT_TYPE_TOKENS


# The application router (cryb_db_client/) is installed by applications without the Pulumi program: it may import
# the standard library, psycopg, psycopg_pool and (lazily, optional) boto3, and its own modules; nothing else.
CLIENT_ALLOWED_IMPORTS = {"psycopg", "psycopg_pool", "boto3"}


def _top_level_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


def test_the_router_package_imports_neither_the_program_nor_pulumi() -> None:
    import sys

    client = PROJECT_DIR / "cryb_db_client"
    used = {str(p.relative_to(PROJECT_DIR)): _top_level_imports(p.read_text()) for p in client.rglob("*.py")}
    assert used, "cryb_db_client/ holds the router"
    outside = {
        module: sorted(names - CLIENT_ALLOWED_IMPORTS - set(sys.stdlib_module_names) - {"__future__"})
        for module, names in used.items()
    }
    assert {module: names for module, names in outside.items() if names} == {}
    assert _top_level_imports("import pulumi\nfrom components.postgres import shard_map\n") == {"pulumi", "components"}
