"""`cryb-db:postgres`: the PostgreSQL shards (extended by the PostgreSQL component)."""

from pydantic import Field, field_validator

from .base import Section

DEFAULT_POSTGRES_PORT = 5432


class PostgresConfig(Section):
    """PostgreSQL settings that other components depend on."""

    port: int = Field(
        default=5433,
        ge=1150,
        le=65535,
        description="Port PostgreSQL listens on (1150-65535, not the default 5432, Security Hub RDS.23).",
    )

    @field_validator("port")
    @classmethod
    def _not_default_port(cls, value: int) -> int:
        if value == DEFAULT_POSTGRES_PORT:
            raise ValueError("must not be the default port 5432 (RDS.23); use 1150-65535 except 5432, e.g. 5433")
        return value
