"""Signing: Lambda code signing. Every function the program declares is deployed from a package AWS Signer signed,
under a code signing configuration that refuses anything else (issue 17, docs/code-signing.md).

Owns: `component.py` (`CodeSigning`: per region the artifacts bucket and its access-log bucket, the Signer
profile and the Lambda code signing configuration; `CodeSigning.sign()` uploads one function's package and signs
it, the one way a function gets its code), `policies.py` (pure: names, prefixes, lifecycle rules, bucket policy).
May import: `components.security`, `components.backups` (its pure bucket, access-log and replication documents).
Imported by: `__main__`, `components.rotation`, `components.monitoring`, `components.cache`, `components.selfhosted`.
"""

from components.signing.component import CodeSigning, CodeSigningArgs, SignedCode

__all__ = ["CodeSigning", "CodeSigningArgs", "SignedCode"]
