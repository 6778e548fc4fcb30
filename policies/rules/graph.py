"""The stack as a graph, for rules that need more than one resource ("every bucket has a policy").

Which resource refers to which: the real engine records property dependencies (the URNs an input was computed
from), and those are exact even while values are unknown. Offline, and after an update, the props themselves
name their targets (an id, ARN or name equal to the target's), so both are consulted.
"""

from collections.abc import Iterable, Sequence
from functools import cached_property

from pulumi_policy import PolicyResource, StackValidationArgs

from .props import has_unknown, plain, strings
from .resource import Resource

# Outputs through which other resources refer to a resource. Tags never count: a Name tag is not a reference.
IDENTITY_PROPS = ("id", "arn", "name", "bucket", "identifier", "clusterIdentifier", "replicationGroupId", "keyId")
NOT_REFERENCES = frozenset({"tags", "tagsAll"})
_last_converted: "tuple[object, Stack] | None" = None


class Stack:
    def __init__(self, resources: Iterable[Resource]):
        self.resources = list(resources)
        self._by_urn = {r.urn: r for r in self.resources}
        self._by_type: dict[str, list[Resource]] = {}
        for resource in self.resources:
            self._by_type.setdefault(resource.type, []).append(resource)

    @classmethod
    def from_args(cls, args: StackValidationArgs) -> "Stack":
        """The stack of `args`. Every stack rule gets the same resource list; converting it once and sharing the
        (read-only) graph saves each further rule a deep copy of every resource's props."""
        global _last_converted
        if _last_converted is not None and _last_converted[0] is args.resources:
            return _last_converted[1]

        def convert(r: PolicyResource) -> Resource:
            dependencies = {key: tuple(d.urn for d in deps) for key, deps in r.property_dependencies.items()}
            return Resource(
                r.resource_type, r.name, r.urn, plain(r.props), r.parent.urn if r.parent else None, dependencies
            )

        stack = cls(convert(r) for r in args.resources)
        _last_converted = (args.resources, stack)  # holding the list keeps its identity from being reused
        return stack

    def of_type(self, *types: str) -> list[Resource]:
        return [r for t in types for r in self._by_type.get(t, [])]

    def by_urn(self, urn: str) -> Resource | None:
        return self._by_urn.get(urn)

    @cached_property
    def _identity_index(self) -> dict[str, list[Resource]]:
        index: dict[str, list[Resource]] = {}
        for resource in self.resources:
            for identifier in self.identifiers(resource):
                index.setdefault(identifier, []).append(resource)
        return index

    def identifiers(self, resource: Resource) -> set[str]:
        """The strings other resources use to name `resource`: its URN and known id/ARN/name outputs."""
        found = {resource.urn}
        for key in IDENTITY_PROPS:
            value = resource.props.get(key)
            if isinstance(value, str) and value:
                found.add(value)
        return found

    def _values(self, source: Resource, keys: Sequence[str] | None) -> list[object]:
        if keys is None:
            return [v for k, v in source.props.items() if k not in NOT_REFERENCES]
        return [source.props[k] for k in keys if k in source.props]

    def _dependencies(self, source: Resource, keys: Sequence[str] | None) -> set[str]:
        deps = source.property_dependencies
        chosen = deps.values() if keys is None else [deps.get(k, ()) for k in keys]
        return {urn for urns in chosen for urn in urns}

    def references(
        self, source: Resource, target: Resource, keys: Sequence[str] | None = None, *, unknown_refers: bool = True
    ) -> bool | None:
        """Whether `source` (in props `keys`, default all but tags) refers to `target`; None: cannot tell yet.

        A value still unknown is undecided unless the engine recorded the property's dependencies, which say
        where it comes from even before it is known. With `unknown_refers=False` an unknown value without recorded
        dependencies counts as no reference (the engine records a dependency for every value computed from another
        resource, so such a value is one the provider computes for `source` itself)."""
        if target.urn in self._dependencies(source, keys):
            return True
        if strings(self._values(source, keys)) & self.identifiers(target):
            return True
        if not unknown_refers:
            return False
        chosen = [k for k in source.props if k not in NOT_REFERENCES] if keys is None else keys
        undecided = any(
            has_unknown(source.props.get(key)) and not source.property_dependencies.get(key) for key in chosen
        )
        return None if undecided else False

    def referenced(
        self, source: Resource, keys: Sequence[str], types: Sequence[str] | None = None
    ) -> tuple[list[Resource], set[str], bool]:
        """What `source.props[keys]` name: (resources of `types` in this stack, known strings naming nothing
        in the stack, whether some value is still unknown)."""
        found: dict[str, Resource] = {}
        for urn in self._dependencies(source, keys):
            target = self._by_urn.get(urn)
            if target is not None and (types is None or target.type in types):
                found[urn] = target
        unresolved: set[str] = set()
        values = self._values(source, keys)
        for value in strings(values):
            targets = [t for t in self._identity_index.get(value, []) if types is None or t.type in types]
            if targets:
                found.update((t.urn, t) for t in targets if t.urn != source.urn)
            else:
                unresolved.add(value)
        return list(found.values()), unresolved, has_unknown(values)

    def referrers(self, target: Resource, types: Sequence[str], keys: Sequence[str] | None = None) -> list[Resource]:
        """Resources of `types` that certainly refer to `target`."""
        return [r for r in self.of_type(*types) if r.urn != target.urn and self.references(r, target, keys)]

    def maybe_referrers(self, target: Resource, types: Sequence[str], keys: Sequence[str] | None = None) -> bool:
        """True when some resource of `types` might refer to `target` but its value is still unknown."""
        return any(self.references(r, target, keys) is None for r in self.of_type(*types) if r.urn != target.urn)
