"""Backups: encrypted S3 backup buckets (Object Lock, replication to the DR region), AWS Backup vaults, plans,
selections and restore testing, and the pure documents behind them (key and bucket policies, lifecycle, rules).

Owns: `component.py` (`Backups`), `policies.py` (pure).
May import: `components.security`.
Imported by: `__main__`, `components.selfhosted` (the backup writer's role policy), `components.signing` (the bucket
policy, access-log and replication documents it shares).
"""

from components.backups.component import Backups, BackupsArgs, DrArgs, RestoreTestingSettings, VaultLockSettings

__all__ = ["Backups", "BackupsArgs", "DrArgs", "RestoreTestingSettings", "VaultLockSettings"]
