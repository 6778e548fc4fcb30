"""The ElastiCache user password rotation Lambda. The function's archive holds this package and the shared rotation
steps under their repository paths (`PACKAGE_FILES`), so the handler imports the same way here and in Lambda."""

from pathlib import Path

HANDLER_FILE = Path(__file__).resolve().parent / "handler.py"
HANDLER = "components.cache.rotation_function.handler.handler"
PACKAGE_FILES = (Path(__file__).resolve(), HANDLER_FILE, HANDLER_FILE.parents[2] / "rotation" / "steps.py")
