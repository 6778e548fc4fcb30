"""Rotation: what the Secrets Manager rotation functions of the cache and the self-hosted clusters share.

Owns: `function.py` (the declaration of a rotation Lambda with its secure defaults), `policies.py` (the core of its
IAM policy, and the acknowledgement-tag condition), `steps.py` (the four-step rotation contract) and `acknowledged.py`
(the steps of a rotation whose nodes apply the password and acknowledge it with tags: Patroni clusters, the
self-hosted cache). The last two are standard library only and packaged into each function's archive.

This `__init__` imports nothing, so a function archive can hold the package with an empty one.
May import: `components.security`, `components.network`, `components.metrics`, `components.signing`.
Imported by: `components.cache`, `components.selfhosted`.
"""
