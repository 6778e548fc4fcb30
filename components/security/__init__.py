"""Security: the customer-managed KMS keys and their key policies, IAM trust documents, the in-VPC Lambda policy
statement and the hardened launch template (IMDSv2, encrypted volumes) every node is started from.

Owns: `kms.py` (the `KmsKeys` component), `kms_policies.py`, `iam_documents.py`, `lambda_policies.py`,
`launch_templates.py` (pure or resource-free helpers besides `kms.py`).
May import: nothing else of `components`.
Imported by: every other component package and `__main__`.
"""

from components.security.kms import KmsKeys, KmsKeysArgs

__all__ = ["KmsKeys", "KmsKeysArgs"]
