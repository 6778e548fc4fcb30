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
        """The resource of `args`. Rules only read it, so when the next rule is handed the same props object (the
        offline runner passes each resource's props to all its rules) the converted resource is shared."""
        global _last_converted
        if _last_converted is not None and _last_converted[0] is args.props and _last_converted[1].urn == args.urn:
            return _last_converted[1]
        resource = cls(args.resource_type, args.name, args.urn, plain(args.props), args.opts.parent)
        _last_converted = (args.props, resource)  # holding the props keeps their identity from being reused
        return resource


_last_converted: tuple[object, Resource] | None = None
