"""`cryb-db:cache`: the cache tier (extended by the cache component)."""

from pydantic import Field

from .base import Section


class CacheConfig(Section):
    """Cache settings that other components depend on."""

    port: int = Field(default=6379, ge=1024, le=65535, description="Port of the cache nodes (1024-65535).")
