"""One resource as a rule sees it. Rules (`base`) and the stack graph (`graph`) both build on this module, which
imports neither: the imports go resource <- graph <- base <- the rule modules."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import ResourceValidationArgs

from .props import lookup, plain


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it: type token, logical name, URN and plain props (see props.plain)."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    parent: str | None = None
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """URNs the engine recorded as inputs of each property (real engine only; empty offline)."""

    def get(self, *path: str | int, default: Any = None) -> Any:
        return lookup(self.props, *path, default=default)

    @classmethod
    def from_args(cls, args: ResourceValidationArgs) -> "Resource":
        return cls(args.resource_type, args.name, args.urn, plain(args.props), args.opts.parent)
