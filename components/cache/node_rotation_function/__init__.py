"""The rotation Lambda of the self-hosted cache's ACL users (`engine: ec2`). The function's archive holds this package
and the shared rotation steps under their repository paths (`PACKAGE_FILES`), so the handler imports the same way
here and in Lambda."""

from pathlib import Path

HANDLER_FILE = Path(__file__).resolve().parent / "handler.py"
HANDLER = "components.cache.node_rotation_function.handler.handler"
SHARED = HANDLER_FILE.parents[2] / "rotation"
PACKAGE_FILES = (Path(__file__).resolve(), HANDLER_FILE, SHARED / "steps.py", SHARED / "acknowledged.py")
NODES_VARIABLE = "CLUSTER_NODES"
