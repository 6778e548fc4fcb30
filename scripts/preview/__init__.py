"""`python -m scripts preview`: evaluate the Pulumi program offline and report its resources, outputs and policy
violations (docs/preview.md).

Modules: `command` (the command `__main__.py` registers), `stack_files` (Pulumi.<stack>.yaml as the engine hands it
to a program), `mock_engine` (runs the real `__main__.py` under mocks and records every resource), `policy_runner`
(runs the policy pack on the recorded graph, as the engine would) and `render` (the JSON document and the text).

May import: `scripts` (PROJECT_DIR), components/ (config errors), policies/ (the rules), pulumi and pulumi_policy;
never psycopg, redis or boto3 (a test checks the preview loads none). Imported by: `__main__.py`, `scripts.bench`
and `scripts.config_docs` (stack_files), and the tests of components/, policies/ and the program.
"""
