"""Nodes to boot, straight from the preview graph: each launch template under a component, with its user data as
recorded and the VPC address of the stable interface named after it (`<template>-eni`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from scripts.preview import mock_engine
from scripts.preview.mock_engine import Evaluation, RecordedResource
from scripts.sandbox.node import NodeSpec

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NETWORK_INTERFACE = "aws:ec2/networkInterface:NetworkInterface"


def engine_answer(resource: RecordedResource, region: str) -> tuple[str | None, dict[str, Any]]:
    """The id and outputs the preview's engine gives the resource (ids, ARNs, addresses), by the engine's own rule."""
    args = SimpleNamespace(
        typ=resource.type, name=resource.name, inputs=resource.inputs, provider=resource.provider,
        custom=resource.custom,
    )  # fmt: skip
    return mock_engine.EchoMocks(region).new_resource(cast(Any, args))


def computed_state(resource: RecordedResource, region: str) -> dict[str, Any]:
    """The outputs the preview's engine gives the resource."""
    return engine_answer(resource, region)[1]


def vpc_address(interface: RecordedResource, region: str) -> str:
    """The private address the preview gives the interface (as `preview` shows it)."""
    return str(computed_state(interface, region)["privateIp"])


def node_specs(evaluation: Evaluation, component_name: str, region: str = "us-east-1") -> list[NodeSpec]:
    component = next(r for r in evaluation.resources if r.name == component_name and not r.type.startswith("aws:"))
    templates = sorted(
        (r for r in evaluation.of_type(LAUNCH_TEMPLATE) if r.parent == component.urn), key=lambda r: r.name
    )
    if not templates:
        raise ValueError(f"{component_name}: no launch template in the preview")
    specs = []
    for template in templates:
        interface = evaluation.named(f"{template.name}-eni")
        specs.append(
            NodeSpec(
                key=template.name.rsplit("-", 1)[-1],
                name=template.name,
                user_data=template.inputs["userData"],
                vpc_address=vpc_address(interface, region),
                instance_type=str(template.inputs.get("instanceType", "")),
            )
        )
    return specs
