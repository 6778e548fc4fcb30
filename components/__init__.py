"""Reusable Pulumi components of cryb-db, one per concern (see docs/architecture.md)."""
