"""`cryb-db:kms`: customer-managed keys of the stack."""

from pydantic import Field

from .base import Section


class KmsConfig(Section):
    """Customer-managed KMS keys; every key rotates automatically."""

    deletion_window_days: int = Field(
        default=30,
        ge=7,
        le=30,
        description="Days a key waits before deletion once scheduled (7-30); 30 gives most time to cancel.",
    )
    rotation_period_days: int = Field(
        default=365, ge=90, le=2560, description="Automatic key rotation period in days (90-2560)."
    )
