"""`python -m scripts config-docs [--check]`: docs/configuration.md generated from the typed config model, so the
docs cannot drift from the code.

Modules: `command` (the command `__main__.py` registers) and `generator` (renders and writes the document). May
import: `scripts` (PROJECT_DIR), `scripts.preview.stack_files` (each stack's values), components.config. Imported
by: `__main__.py` and tests/project.
"""
