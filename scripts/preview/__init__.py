"""`python -m scripts preview`: evaluate the Pulumi program offline and report its resources, outputs and policy
violations (docs/preview.md).

Modules: `command` (the command `__main__.py` registers), `stack_files` (Pulumi.<stack>.yaml as the engine hands it
to a program), `mock_engine` (runs the real `__main__.py` under mocks and records every resource, also as a first
preview), `engine_view` (what the engine hands the policy pack for a recorded graph, in its wire form),
`policy_runner` (runs the policy pack on that view, as the engine would, with the policy config checked as the CLI
checks it) and `render` (the JSON document and the text).

May import: `scripts` (PROJECT_DIR), components/ (config errors), policies/ (the rules), pulumi, pulumi_policy and
jsonschema; never psycopg, redis or boto3 (a test checks the preview loads none). Imported by: `__main__.py`,
`scripts.bench` and `scripts.config_docs` (stack_files), tests/servers/policy_analyzer.py (engine_view), and the
tests of components/, policies/ and the program.
"""
