"""The base every config section derives from: camelCase keys as in Pulumi.<stack>.yaml, no unknown keys."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Section(BaseModel):
    """A config section. Keys are camelCase in YAML; unknown keys are errors so typos cannot pass silently."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )
