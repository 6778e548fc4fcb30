"""The parameters a CloudNativePG cluster gets (components/kubernetes/cnpg.py), read by PostgreSQL itself: every value
of `spec.postgresql.parameters` as rendered for the example stack's pod size is accepted by the server
(`postgres -C`, which parses the configuration and exits), and shared_buffers, written in kB for the operator's
webhook, is the tuning's 25 % of the pod's memory. PostgreSQL 15 here; the operand image runs 17, whose
parameters these are a subset of."""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.kubernetes import cnpg
from scripts.servers.process import make_workdir, remove_workdir, run_as, service_user
from tests.components.kubernetes.test_cnpg import CLUSTER_SPEC
from tests.servers.postgres import PG_BIN_DIR

pytestmark = pytest.mark.servers
if not (PG_BIN_DIR / "postgres").exists():
    raise RuntimeError(f"{PG_BIN_DIR}/postgres is not installed: run .ci/setup.sh (make setup)")


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    user = service_user("postgres")
    work = make_workdir("cryb-cnpg-params-", user)
    try:
        run_as(user, [PG_BIN_DIR / "initdb", "-D", work / "data", "--auth=peer"],
               cwd=work)  # fmt: skip
        yield work / "data"
    finally:
        remove_workdir(work)


def show(data_dir: Path, name: str, parameters: dict[str, str]) -> str:
    settings = [arg for key, value in parameters.items() for arg in ("-c", f"{key}={value}")]
    result = run_as(
        service_user("postgres"), [PG_BIN_DIR / "postgres", "-D", data_dir, "-C", name, *settings], cwd=data_dir.parent
    )
    return result.stdout.strip()


@pytest.mark.parametrize(("cpu", "memory_mib", "pages"), [(4, 32768, 1048576), (2, 8192, 262144)])
def test_postgres_accepts_every_rendered_parameter(data_dir: Path, cpu: int, memory_mib: int, pages: int) -> None:
    spec = dataclasses.replace(CLUSTER_SPEC, cpu=cpu, memory_mib=memory_mib)
    parameters, _ = cnpg.postgres_parameters(spec)
    assert show(data_dir, "shared_buffers", parameters) == str(pages)  # 8 kB pages: a quarter of the memory
    assert show(data_dir, "max_connections", parameters) == str(cpu * 100)
    assert show(data_dir, "password_encryption", parameters) == "scram-sha-256"


def test_a_value_postgres_refuses_is_noticed(data_dir: Path) -> None:
    parameters, _ = cnpg.postgres_parameters(CLUSTER_SPEC)
    with pytest.raises(RuntimeError, match="shared_buffers"):
        show(data_dir, "shared_buffers", {**parameters, "shared_buffers": "8 gigabytes"})
