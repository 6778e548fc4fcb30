"""Network: the isolated VPC (data, app and endpoint tiers), its subnet plan and NACLs, and the HTTPS-only
egress security group every in-VPC Lambda uses.

Owns: `component.py` (the `Network` component), `plan.py` (subnet plan and NACL rules, pure), `https_egress.py`.
May import: nothing else of `components`.
Imported by: `__main__`, `components.monitoring`, `components.rotation`.
"""

from components.network.component import Network, NetworkArgs, SecurityGroups

__all__ = ["Network", "NetworkArgs", "SecurityGroups"]
