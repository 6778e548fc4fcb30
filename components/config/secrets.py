"""Keys whose values are secrets must arrive as Pulumi secrets, never as plaintext written into a stack file.

The engine tells the program which top-level keys hold a secret (the language host's `configSecretKeys`, or
`PULUMI_CONFIG_SECRET_KEYS`). A key set with `pulumi config set --path --secret 'cryb-db:section.key'` marks its whole
top-level key (`cryb-db:section`) secret, as the engine's `config.Map.SecureKeys` does for any object holding a
secure value, so a section holding a secret field must be listed. Offline, a nested value not yet decrypted is still
`{"secure": "v1:..."}`: that is encrypted too.
"""

from collections.abc import Collection, Iterator, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr

from .errors import NAMESPACE


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return any(_is_secret(arg) for arg in get_args(annotation))
    return False


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def secret_keys_of(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every (camelCase) key path whose value is a secret (`SecretStr` fields), e.g. ("monitoring", "pagerduty...")."""
    for name, field in model.model_fields.items():
        key = (*prefix, field.alias or name)
        if _is_secret(field.annotation):
            yield key
        elif (nested := _model_of(field.annotation)) is not None:
            yield from secret_keys_of(nested, key)


def _value_at(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)  # pyright: ignore[reportUnknownMemberType]
    return value


def _encrypted(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}  # pyright: ignore[reportUnknownArgumentType]


def plaintext_secret_problems(
    model: type[BaseModel], data: Mapping[str, Any], secret_keys: Collection[str]
) -> list[str]:
    """One line per secret key set in plaintext; the value is never shown."""
    problems = []
    for path in secret_keys_of(model):
        value = _value_at(data, path)
        if value is None or _encrypted(value) or f"{NAMESPACE}:{path[0]}" in secret_keys:
            continue
        key = f"{NAMESPACE}:{'.'.join(path)}"
        path_flag = " --path" if len(path) > 1 else ""
        problems.append(
            f"{key}: a secret, but the stack file holds it in plaintext (value not shown); remove it from the stack "
            f"file and set it with `pulumi config set{path_flag} --secret '{key}' <value>`"
        )
    return problems
