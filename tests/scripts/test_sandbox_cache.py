"""The cache nodes the sandbox boots and the image they boot on, without booting them (scripts/sandbox/cache.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.preview.mock_engine import Evaluation
from scripts.sandbox import AddressTable, Node
from scripts.sandbox.cache import OVERCOMMIT, VALKEY_PROGRAMS, cache_image, cache_node_specs
from scripts.sandbox.image import SKIPS
from scripts.sandbox.network import Network
from scripts.sandbox.node import ec2_hostname
from scripts.sandbox.userdata import decode_user_data, parse_cloud_config
from tests.real.sandbox.cache_nodes import cache_ec2_evaluation


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    return cache_ec2_evaluation(tmp_path_factory.mktemp("cache-ec2-config"))


def test_one_node_per_launch_template_with_its_instance_address_and_subnet_az(evaluation: Evaluation) -> None:
    specs = cache_node_specs(evaluation)
    assert [s.name for s in specs] == [f"cryb-prod-cache-node-{i}" for i in range(6)]
    assert len({s.vpc_address for s in specs}) == 6
    assert {s.availability_zone for s in specs} == {"us-east-1a", "us-east-1b", "us-east-1c"}
    # Node 0 carries the bootstrap script, which names every peer by the address its spec has.
    script = parse_cloud_config(decode_user_data(specs[0].user_data)).file("/usr/local/sbin/cryb-cache-bootstrap")
    for spec in specs[1:]:
        assert spec.vpc_address in script.content


def test_the_image_links_valkey_to_redis_in_a_node_overlay_and_stands_in_for_overcommit(
    evaluation: Evaluation, tmp_path: Path
) -> None:
    specs = cache_node_specs(evaluation)
    addresses = AddressTable.for_vpc_addresses(s.vpc_address for s in specs)
    node = Node(
        specs[1], workdir=tmp_path, network=Network(), addresses=addresses, image=cache_image(),
        hosts="127.0.0.1 localhost\n", ca_pem=None, region="us-east-1",
    )  # fmt: skip
    script = node._mount_script()
    lines = script.splitlines()
    overlays = [i for i, line in enumerate(lines) if line.startswith("mount -t overlay")]
    binds = [i for i, line in enumerate(lines) if line.startswith("mount --bind")]
    assert len(overlays) == 2 and max(overlays) < min(binds)  # /etc and /usr/bin first: the node's dirs go over them
    assert any(line.endswith(f" {OVERCOMMIT}") and line.startswith("mount --bind") for line in lines)
    assert f"printf '%s\\n' 0 > {node.standin(OVERCOMMIT)}" in script
    assert f"hostname {ec2_hostname(specs[1].vpc_address, 'us-east-1')}" in lines
    notes = "\n".join(node.image.notes())
    for program, served_by in VALKEY_PROGRAMS.items():
        assert f"{program} is this machine's {served_by}" in notes
    assert "dnf" in {skip.name for skip in SKIPS}
    assert "/var/lib/cryb-cache" in node.node_dirs()


def test_ec2_host_names() -> None:
    assert ec2_hostname("10.99.22.23", "us-east-1") == "ip-10-99-22-23.ec2.internal"
    assert ec2_hostname("10.0.1.5", "eu-west-1") == "ip-10-0-1-5.eu-west-1.compute.internal"
