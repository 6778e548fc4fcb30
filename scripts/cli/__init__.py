"""What every command of the operator CLI shares (README.md#exit-codes): the exit codes of usage and environment
errors, one-line error messages (and a JSON error document under `--json`), output that is not cut to a terminal's
width when it goes to a pipe or a file, and help that shows what each option takes.

Owns: `exits.py` (codes, `fail`, the error document), `output.py` (the width of piped output), `errors.py`
(which exceptions are usage and environment errors, in one line), `help.py` (flags shown without a value).
May import: typer, rich; botocore only by name (never imported here).
Imported by: `scripts/__main__.py` and the command packages.
"""
