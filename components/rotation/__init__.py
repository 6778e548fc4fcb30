"""Rotation: what the Secrets Manager rotation functions of the cache and the self-hosted clusters share.

Owns: `function.py` (the declaration of a rotation Lambda with its secure defaults), `policies.py` (the core of its
IAM policy) and `steps.py` (the four-step rotation contract, standard library and boto3 only: it is packaged into
each function's archive).

This `__init__` imports nothing, so a function archive can hold the package with an empty one.
May import: `components.security`, `components.network`, `components.metrics`, `components.signing`.
Imported by: `components.cache`, `components.selfhosted`.
"""
