"""PostgreSQL tuned to this machine's budget, not to the rendered instance type: the local platform must fit a
2-core, 4 GB laptop, and the rendered i4i.xlarge parameters (shared_buffers 8 GiB per node) do not.

The values come from the SAME function the RDS shards and the EC2 nodes are tuned with
(`components.postgres.tuning.parameters_for`), given each node's share of the budget: PostgreSQL gets
`POSTGRES_SHARE` of `BUDGET_MIB`, split evenly over the booted PostgreSQL nodes; the rest is for etcd, Patroni,
the cache nodes, moto and the supervisor (measured in docs/local.md). They are applied to the rendered artifact
itself: the `bootstrap.dcs.postgresql.parameters` of each node's rendered patroni.yml in its user data (the
cluster-wide parameters Patroni writes to etcd at bootstrap; a fresh `up` always bootstraps). The rewritten file
says so in its first lines, and each node's boot log names the values (`local tuning: ...`).
"""

from __future__ import annotations

import base64
import gzip
import os
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from components.postgres.tuning import machine_size, parameters_for
from scripts.sandbox.userdata import decode_user_data

BUDGET_MIB = int(os.environ.get("CRYB_LOCAL_MEMORY_MIB") or 4096)
"""The machine the platform must fit (the issue's 2 cores / 4 GB); `CRYB_LOCAL_MEMORY_MIB` changes it."""
BUDGET_VCPU = 2
POSTGRES_SHARE = 0.5
"""Half the budget for PostgreSQL; the other half for 6 cache nodes, 3 etcd, 3 Patroni, moto and the supervisor."""
PATRONI_FILE = "/etc/patroni/cryb/patroni.yml"
SCALED = (
    "shared_buffers",
    "effective_cache_size",
    "max_connections",
    "work_mem",
    "maintenance_work_mem",
    "autovacuum_work_mem",
    "max_wal_size",
    "autovacuum_max_workers",
)
"""The parameters that follow the machine's size; the others (logging, vacuum thresholds, TLS) stay as rendered."""


@dataclass(frozen=True)
class NodeBudget:
    nodes: int
    memory_mib: int
    vcpu: int

    @property
    def label(self) -> str:
        return f"{self.memory_mib} MiB, {self.vcpu} vCPU per node ({self.nodes} PostgreSQL nodes)"


def node_budget(postgres_nodes: int, budget_mib: int = BUDGET_MIB, vcpu: int = BUDGET_VCPU) -> NodeBudget:
    if postgres_nodes < 1:
        raise ValueError(f"postgres_nodes = {postgres_nodes}: at least 1")
    share_mib = int(budget_mib * POSTGRES_SHARE) // postgres_nodes
    return NodeBudget(postgres_nodes, share_mib, max(1, vcpu // postgres_nodes))


def local_parameters(budget: NodeBudget) -> dict[str, str]:
    """The scaled parameters of one node, by `parameters_for` of the node's share."""
    size = machine_size("local-node", budget.vcpu, budget.memory_mib)
    return {p.name: p.value for p in parameters_for(size) if p.name in SCALED}


def retune_user_data(user_data: str, parameters: Mapping[str, str], label: str) -> str:
    """The user data (base64, as the preview records it) with `parameters` in its patroni.yml's bootstrap DCS."""
    document = yaml.safe_load(decode_user_data(user_data))
    entry = next((f for f in document.get("write_files", []) if f.get("path") == PATRONI_FILE), None)
    if entry is None:
        raise ValueError(f"the user data writes no {PATRONI_FILE}")
    original = str(entry["content"])
    patroni = yaml.safe_load(original)
    dcs_parameters = patroni["bootstrap"]["dcs"]["postgresql"]["parameters"]
    missing = sorted(set(parameters) - set(dcs_parameters))
    if missing:
        raise ValueError(f"{PATRONI_FILE}: the rendered bootstrap DCS has no {', '.join(missing)} to retune")
    dcs_parameters.update(parameters)
    header = [line for line in original.splitlines() if line.startswith("#")]
    header.append(f"# Memory parameters retuned by scripts/local/tuning.py for the local platform: {label}.")
    entry["content"] = "\n".join(header) + "\n" + yaml.safe_dump(patroni, sort_keys=False)
    text = "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False, width=1000)
    raw = base64.b64decode(user_data)
    encoded = gzip.compress(text.encode()) if raw[:2] == b"\x1f\x8b" else text.encode()
    return base64.b64encode(encoded).decode()


def describe(parameters: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={value}" for name, value in parameters.items())
