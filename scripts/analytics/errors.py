"""The two ways a migration run fails: refused before anything ran, or a migration that raised and was rolled back."""

from collections.abc import Sequence


class MigrationError(Exception):
    """Refused before anything ran (bad files, tampering, bad parameters, impossible strategy)."""


class MigrationRunError(Exception):
    """A migration raised; its transaction was rolled back and nothing of it was recorded."""

    def __init__(self, file: str, message: str, applied_before: Sequence[str]) -> None:
        super().__init__(f"{file} failed and was rolled back (nothing of it applied or recorded): {message}")
        self.file = file
        self.message = message
        self.applied_before = list(applied_before)
