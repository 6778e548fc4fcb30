"""The cryb-db policy pack. `pulumi preview --policy-pack policies` runs this file, which only builds the pack:
constructing PolicyPack starts the analyzer's gRPC server and never returns, so nothing may import this file.
The rules live in `rules/` (run offline by scripts/preview/policy_runner.py); the server refuses a policy config
naming a policy or setting the pack does not have (rules/analyzer.py)."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import all_policies, all_rules
from rules.analyzer import refuse_unknown_config

refuse_unknown_config(all_rules())
PolicyPack(
    name="cryb-db-baseline",
    policies=all_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="CRYB database platform security baseline: AWS FSBP controls and project rules (docs/policies.md).",
)
