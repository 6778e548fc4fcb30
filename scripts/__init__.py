"""The operator CLI of cryb-db: `python -m scripts <command>` (docs/operations.md).

`__main__.py` is the CLI; each command family is a subpackage (docs/architecture.md#scripts): `preview`,
`config_docs`, `bench`, `health`, `analytics`, `dr`, and `reports` (the tables benchmarks and drills print and
write). This module holds only PROJECT_DIR, the repository root the commands read from and write under.
"""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
