"""The operator CLI of cryb-db: `python -m scripts <command>` (docs/operations.md)."""
