"""The NVMe instance-type table: sizes that RAID assembly and tuning rely on, and the validation messages."""

import pytest

from components.postgres.tuning import instance_class
from components.selfhosted.nvme_instances import NVME_INSTANCE_TYPES, nvme_instance_type, validate_node_type
from components.selfhosted.patroni_config import tuning_class_for


@pytest.mark.parametrize(
    ("name", "vcpu", "memory_gib", "devices", "device_gb", "arch"),
    [
        ("i4i.large", 2, 16, 1, 468, "x86_64"),
        ("i4i.8xlarge", 32, 256, 2, 3750, "x86_64"),
        ("i4i.16xlarge", 64, 512, 4, 3750, "x86_64"),
        ("r6gd.xlarge", 4, 32, 1, 237, "arm64"),
        ("r7gd.12xlarge", 48, 384, 2, 1425, "arm64"),
    ],
)
def test_rows_carry_the_published_instance_store_layout(
    name: str, vcpu: int, memory_gib: int, devices: int, device_gb: int, arch: str
) -> None:
    row = nvme_instance_type(name)
    assert (row.vcpu, row.memory_gib, row.nvme_devices, row.nvme_device_gb, row.arch) == (
        vcpu,
        memory_gib,
        devices,
        device_gb,
        arch,
    )
    assert row.nvme_total_gb == devices * device_gb


def test_only_nvme_families_are_offered() -> None:
    assert {row.family for row in NVME_INSTANCE_TYPES.values()} == {"i4i", "r6gd", "r7gd"}
    with pytest.raises(ValueError, match="not an NVMe instance type"):
        nvme_instance_type("r7g.xlarge")  # EBS only: no instance store to put PostgreSQL on


def test_a_typo_gets_the_closest_type() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'i4i\.2xlarge'"):
        nvme_instance_type("i4i.2xlarg")


def test_a_type_too_small_for_the_data_names_bigger_ones_of_its_family() -> None:
    with pytest.raises(ValueError, match=r"118 GB of NVMe, less than the 1000 GB.*r6gd\.8xlarge"):
        validate_node_type("r6gd.large", min_data_gb=1000)
    assert validate_node_type("i4i.xlarge", min_data_gb=900).nvme_total_gb == 937


def test_every_row_is_tunable_by_the_rds_tuning_function() -> None:
    """Config accepts only types the adapter can map: same vCPU and memory as a postgres_tuning class."""
    for row in NVME_INSTANCE_TYPES.values():
        cls = instance_class(tuning_class_for(row))
        assert (cls.vcpu, cls.memory_gib) == (row.vcpu, row.memory_gib)
        assert not cls.burstable
