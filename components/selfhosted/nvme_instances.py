"""EC2 instance types with local NVMe instance storage that self-hosted PostgreSQL nodes may run on (pure).

Instance storage is ephemeral: it is fast (~50 µs per IO vs ~250 µs on EBS) but lost when the instance stops or
is replaced, so durability comes from synchronous replication to two peers plus WAL archiving (docs/selfhosted.md).
Sizes are the AWS-published instance store volumes in GB (10^9 bytes); every device of a type is the same size,
and the nodes stripe them into one RAID 0 array.
"""

import difflib
from dataclasses import dataclass
from typing import Literal

Arch = Literal["x86_64", "arm64"]

# The smallest node that runs PostgreSQL, Patroni and an etcd member side by side without starving one of them.
MIN_VCPU = 2
MIN_MEMORY_GIB = 16


@dataclass(frozen=True)
class NvmeInstanceType:
    """One row of the table: what sizing, RAID assembly and the AMI choice need to know."""

    name: str
    vcpu: int
    memory_gib: int
    nvme_devices: int
    nvme_device_gb: int
    arch: Arch

    @property
    def family(self) -> str:
        return self.name.split(".")[0]

    @property
    def nvme_total_gb(self) -> int:
        """Usable size of the RAID 0 array (the sum of the devices)."""
        return self.nvme_devices * self.nvme_device_gb


def _rows() -> dict[str, NvmeInstanceType]:
    # (size, vCPU, GiB, devices, GB per device) from the EC2 instance-store volume tables.
    i4i = [
        ("large", 2, 16, 1, 468),
        ("xlarge", 4, 32, 1, 937),
        ("2xlarge", 8, 64, 1, 1875),
        ("4xlarge", 16, 128, 1, 3750),
        ("8xlarge", 32, 256, 2, 3750),
        ("12xlarge", 48, 384, 3, 3750),
        ("16xlarge", 64, 512, 4, 3750),
    ]
    # r6gd and r7gd (Graviton) share their instance-store layout.
    rgd = [
        ("large", 2, 16, 1, 118),
        ("xlarge", 4, 32, 1, 237),
        ("2xlarge", 8, 64, 1, 474),
        ("4xlarge", 16, 128, 1, 950),
        ("8xlarge", 32, 256, 1, 1900),
        ("12xlarge", 48, 384, 2, 1425),
        ("16xlarge", 64, 512, 2, 1900),
    ]
    families: tuple[tuple[str, list[tuple[str, int, int, int, int]], Arch], ...] = (
        ("i4i", i4i, "x86_64"),
        ("r6gd", rgd, "arm64"),
        ("r7gd", rgd, "arm64"),
    )
    table: dict[str, NvmeInstanceType] = {}
    for family, sizes, arch in families:
        for size, vcpu, mem, devices, gb in sizes:
            name = f"{family}.{size}"
            table[name] = NvmeInstanceType(name, vcpu, mem, devices, gb, arch)
    return table


NVME_INSTANCE_TYPES: dict[str, NvmeInstanceType] = _rows()


def nvme_instance_type(name: str) -> NvmeInstanceType:
    """The table row of `name`; ValueError naming the closest match and every allowed type otherwise."""
    row = NVME_INSTANCE_TYPES.get(name)
    if row is None:
        guess = difflib.get_close_matches(name, list(NVME_INSTANCE_TYPES), n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        raise ValueError(
            f"{name!r} is not an NVMe instance type of the table{hint}; allowed: {', '.join(NVME_INSTANCE_TYPES)}"
        )
    return row


def validate_node_type(name: str, *, min_data_gb: int = 0) -> NvmeInstanceType:
    """A type a node may use: in the table, big enough for PostgreSQL + Patroni + etcd, and with at least
    `min_data_gb` of NVMe for the data directory. Raises ValueError saying which rule failed."""
    row = nvme_instance_type(name)
    if row.vcpu < MIN_VCPU or row.memory_gib < MIN_MEMORY_GIB:
        raise ValueError(
            f"{name!r} has {row.vcpu} vCPU / {row.memory_gib} GiB; a node needs at least "
            f"{MIN_VCPU} vCPU and {MIN_MEMORY_GIB} GiB"
        )
    if row.nvme_total_gb < min_data_gb:
        bigger = [
            t.name for t in NVME_INSTANCE_TYPES.values() if t.family == row.family and t.nvme_total_gb >= min_data_gb
        ]
        hint = f"; in this family: {', '.join(bigger)}" if bigger else ""
        raise ValueError(f"{name!r} has {row.nvme_total_gb} GB of NVMe, less than the {min_data_gb} GB asked for{hint}")
    return row
