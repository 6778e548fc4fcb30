"""The mutation check (docs/development.md#mutation-check): `python -m tests.mutation`."""
