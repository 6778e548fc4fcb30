"""The layout and bootstrap of a self-hosted Redis/Valkey Cluster, as pure data.

Masters are spread round-robin over the AZs; every replica lives in an AZ other than its master's, so
losing one AZ never loses a shard. The 16,384 hash slots are split into contiguous ranges, one per master.
The bootstrap is a list of steps (meet, add slots, wait, replicate, wait) that an executor runs: the
rendered shell script on EC2 (components/cache/cloud_init.py) and the real-cluster test on loopback.
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

CLUSTER_SLOTS = 16384

Role = Literal["master", "replica"]


class LayoutError(ValueError):
    """The requested cluster cannot be laid out; the message says why and what would work."""


@dataclass(frozen=True)
class NodePlan:
    """One node: its position in the plan, shard, role, AZ, and (masters) slots or (replicas) master."""

    index: int
    shard: int
    role: Role
    az: str
    slots: tuple[int, int] | None = None
    master: int | None = None
    replica_number: int = 0

    @property
    def name(self) -> str:
        """Stable label, e.g. `s0-master`, `s2-replica1`."""
        return f"s{self.shard}-master" if self.role == "master" else f"s{self.shard}-replica{self.replica_number}"


@dataclass(frozen=True)
class BootstrapStep:
    """One bootstrap action. `node` runs it; `target` is the other node involved (meet, replicate)."""

    kind: Literal["meet", "addslots", "wait-known", "replicate", "wait-ok"]
    node: int | None = None
    target: int | None = None
    slots: tuple[int, int] | None = None


@dataclass(frozen=True)
class ClusterPlan:
    nodes: tuple[NodePlan, ...]
    azs: tuple[str, ...]

    @property
    def masters(self) -> list[NodePlan]:
        return [n for n in self.nodes if n.role == "master"]

    @property
    def replicas(self) -> list[NodePlan]:
        return [n for n in self.nodes if n.role == "replica"]

    def replicas_of(self, master: int) -> list[NodePlan]:
        return [n for n in self.nodes if n.master == master]

    def bootstrap_steps(self) -> list[BootstrapStep]:
        """Node 0 meets every other node; masters take their slots; once every node knows every other,
        replicas attach to their masters; then the executor waits for `cluster_state:ok`."""
        steps = [BootstrapStep("meet", node=0, target=n.index) for n in self.nodes[1:]]
        steps += [BootstrapStep("addslots", node=m.index, slots=m.slots) for m in self.masters]
        steps.append(BootstrapStep("wait-known"))
        steps += [BootstrapStep("replicate", node=r.index, target=r.master) for r in self.replicas]
        steps.append(BootstrapStep("wait-ok"))
        return steps

    def az_loss_problems(self) -> list[str]:
        """Why losing one AZ would take (part of) the cluster down, or [] if any single AZ can fail.

        A replica is promoted only with the votes of a majority of masters, so after losing an AZ more than
        half of the masters must survive, and every shard must keep at least one node.
        """
        problems = []
        for az in self.azs:
            surviving_masters = [m for m in self.masters if m.az != az]
            if len(surviving_masters) * 2 <= len(self.masters):
                problems.append(
                    f"losing {az} leaves {len(surviving_masters)} of {len(self.masters)} masters, not a majority, "
                    "so no replica can be promoted"
                )
            lost = [m.shard for m in self.masters if not any(n.az != az for n in self.nodes if n.shard == m.shard)]
            if lost:
                problems.append(f"losing {az} loses every node of shard(s) {', '.join(map(str, lost))}")
        return problems


def slot_ranges(masters: int) -> list[tuple[int, int]]:
    """Contiguous inclusive ranges covering 0..16383; the first `16384 % masters` get one slot more."""
    if not 1 <= masters <= CLUSTER_SLOTS:
        raise LayoutError(f"masters = {masters}: must be 1-{CLUSTER_SLOTS} (one slot per master at least)")
    base, extra = divmod(CLUSTER_SLOTS, masters)
    ranges, start = [], 0
    for i in range(masters):
        size = base + (1 if i < extra else 0)
        ranges.append((start, start + size - 1))
        start += size
    return ranges


def plan_cluster(shards: int, replicas_per_shard: int, azs: Sequence[str]) -> ClusterPlan:
    """Masters first (index = shard), then replicas shard by shard; raises LayoutError for impossible layouts."""
    zones: tuple[str, ...] = tuple(azs)
    if shards < 1:
        raise LayoutError(f"shards = {shards}: must be at least 1")
    if replicas_per_shard < 0:
        raise LayoutError(f"replicas per shard = {replicas_per_shard}: must be 0 or more")
    if not zones:
        raise LayoutError("no availability zones given: need at least one (two for replicas)")
    if len(set(zones)) != len(zones):
        raise LayoutError(f"availability zones {list(zones)}: must be distinct")
    if replicas_per_shard and len(zones) < 2:
        raise LayoutError(
            f"{replicas_per_shard} replica(s) per shard over one AZ ({', '.join(zones)}): a replica must live in "
            "another AZ than its master, so give at least 2 AZs"
        )
    ranges = slot_ranges(shards)
    nodes: list[NodePlan] = [
        NodePlan(index=s, shard=s, role="master", az=zones[s % len(zones)], slots=ranges[s]) for s in range(shards)
    ]
    for s in range(shards):
        master_az = zones[s % len(zones)]
        others = [az for az in zones if az != master_az]
        for r in range(1, replicas_per_shard + 1):
            az = others[(s + r - 1) % len(others)]
            nodes.append(NodePlan(index=len(nodes), shard=s, role="replica", az=az, master=s, replica_number=r))
    return ClusterPlan(tuple(nodes), zones)


def node_address(subnet_cidr: str, index: int) -> str:
    """Node `index`'s fixed address in its subnet: counted down from the top (AWS reserves the last address), where
    AWS's own assignments (which start at the bottom) are least likely to have taken it."""
    network = ipaddress.IPv4Network(subnet_cidr, strict=True)
    offset = network.num_addresses - 2 - index
    if offset < 4 + 16:  # the first 4 are AWS's; keep room below for everything else
        raise ValueError(f"subnet {subnet_cidr} is too small for cache node {index}")
    return str(network.network_address + offset)
