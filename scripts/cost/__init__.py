"""Monthly cost estimate of a stack (docs/cost.md): the dated price tables, the usage assumptions, the pure
estimator over the preview's recorded resources, its rendering, and `python -m scripts prices` (refresh the tables
from the AWS Pricing API; print a preview document's estimate as Markdown for the pull-request comment).

Modules: `prices` (the tables in `prices/<region>.json`: load, validate), `assumptions` (every usage volume the
estimate assumes, printed with it), `estimate` (pure: recorded resources -> line items and totals), `render` (text
tables, the JSON `cost` section, Markdown, the `--compare` difference), `refresh` (Pricing API responses -> a table)
and `command` (the `prices` group).

May import: `scripts` (PROJECT_DIR), rich, typer; boto3 only inside `refresh` functions that call AWS (the preview
imports `prices`, `estimate` and `render`, and must load no boto3). Never components/ or pulumi: the estimator reads
the recorded resources, not the program. Imported by: `scripts.preview` (render, command), `__main__.py` (the
`prices` group, lazily), tests.
"""
