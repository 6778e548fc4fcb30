"""Self-hosted cache nodes (`cryb-db:cache.engine: ec2`) in the sandbox: which nodes the preview records, and the
image they boot on.

The cache renders one launch template per node (components/cache/cloud_init.py) and one `aws.ec2.Instance` from
it; the instance's private address (as the preview gives it) is the node's VPC address, the AZ is its subnet's.
Their user data runs as rendered, with this image (Image, scripts/sandbox/image.py):

* `/usr/bin/valkey-server` and `/usr/bin/valkey-cli` are this machine's Redis 7 `redis-server` and `redis-cli`
  (the AL2023 image installs Valkey; this machine has Redis 7, which reads the same rendered node.conf), linked in
  the node's own overlay of /usr/bin; `dnf install` is skipped by name (SKIPS);
* /etc is an overlay of the node's own, so the rendered `useradd --system valkey` really runs and adds the user to
  the node's /etc/passwd only;
* `vm.overcommit_memory` is a global kernel setting: each node has a file of its own bound over
  /proc/sys/vm/overcommit_memory, holding the kernel's default (0) at every boot. The rendered
  `sysctl -p /etc/sysctl.d/60-cryb-cache.conf` (the real sysctl) writes it, and the server reads it from there.
"""

from __future__ import annotations

from types import MappingProxyType

from scripts.preview.mock_engine import Evaluation, RecordedResource
from scripts.sandbox.image import Image
from scripts.sandbox.node import NodeSpec
from scripts.sandbox.preview import LAUNCH_TEMPLATE, computed_state, engine_answer

CACHE = "cryb:cache:Cache"
INSTANCE = "aws:ec2/instance:Instance"
SUBNET = "aws:ec2/subnet:Subnet"
OVERCOMMIT = "/proc/sys/vm/overcommit_memory"
KERNEL_DEFAULT_OVERCOMMIT = "0"
VALKEY_PROGRAMS = MappingProxyType(
    {"/usr/bin/valkey-server": "/usr/bin/redis-server", "/usr/bin/valkey-cli": "/usr/bin/redis-cli"}
)


def resource_id(resource: RecordedResource, region: str) -> str:
    """The id the preview's engine gives the resource (what other resources' inputs refer to it by)."""
    return str(engine_answer(resource, region)[0])


def cache_image() -> Image:
    """This machine as a cache node's AL2023 image: Valkey served by Redis 7, private /etc, overcommit stand-in."""
    return Image(
        overlays=("/etc", "/usr/bin"),
        links=dict(VALKEY_PROGRAMS),
        proc_standins={OVERCOMMIT: KERNEL_DEFAULT_OVERCOMMIT},
    )


def cache_component(evaluation: Evaluation) -> str:
    (component,) = [r for r in evaluation.resources if r.type == CACHE]
    return component.name


def cache_node_specs(evaluation: Evaluation, region: str = "us-east-1") -> list[NodeSpec]:
    """One NodeSpec per cache node, in node order (node 0, the one with the bootstrap script, first)."""
    (component,) = [r for r in evaluation.resources if r.type == CACHE]
    children = [r for r in evaluation.resources if r.parent == component.urn]
    templates = [r for r in children if r.type == LAUNCH_TEMPLATE]
    instances = {r.name: r for r in children if r.type == INSTANCE}
    subnets = {resource_id(s, region): s for s in evaluation.of_type(SUBNET)}
    specs = []
    for template in sorted(templates, key=lambda t: int(t.name.rsplit("-", 1)[-1])):
        instance = instances[template.name]
        (interface,) = template.inputs["networkInterfaces"]
        specs.append(
            NodeSpec(
                key=f"n{template.name.rsplit('-', 1)[-1]}",
                name=template.name,
                user_data=template.inputs["userData"],
                vpc_address=str(computed_state(instance, region)["privateIp"]),
                instance_type=str(template.inputs.get("instanceType", "")),
                availability_zone=str(subnets[interface["subnetId"]].inputs["availabilityZone"]),
            )
        )
    if not specs:
        raise ValueError(f"{component.name}: no launch template in the preview (is cache.engine ec2?)")
    return specs
