"""Reusable Pulumi components of cryb-db: one package per concern (docs/architecture.md has the map).

Each package's `__init__` says what it owns, what it may import and what imports it (a test holds the imports to
it) and exports its ComponentResources and their args. Nothing lives at this level but this file.
"""
