"""Rotation: what the Secrets Manager rotation functions share: the declaration of a rotation Lambda with its
secure defaults (`function.py`), the core of its IAM policy (`policies.py`) and the four-step rotation contract
(`steps.py`, standard library and boto3 only: it is packaged into each function's archive).

This `__init__` imports nothing, so a function archive can hold the package with an empty one.
May import: `components.security`, `components.network`, `components.metrics`. Imported by: `components.cache`,
`components.selfhosted`.
"""
