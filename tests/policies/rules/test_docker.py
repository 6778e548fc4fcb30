"""`policies/rules/docker.py`, the local stack's containers: each case's compliant input passes, each violating one
is reported with what to change, and unknown values are no violation (helpers.case_tests); the rules apply to docker
types only and the AWS rules to none of the local stack's resources."""

from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from policies.rules import docker
from policies.rules.base import ResourceRule
from scripts.preview.mock_engine import evaluate
from scripts.preview.policy_runner import POLICY_CONFIG_DIR, run_policies
from tests.policies.rules.helpers import RULES, Case, case_tests

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
GOOD = {
    "image": "cryb-db-local:local",
    "privileged": False,
    "networkMode": "bridge",
    "envs": ["CRYB_ADDRESS=172.28.0.10", "CRYB_RESTAPI_PORT=8008"],
    "memory": 512.0,
    "memorySwap": 512.0,
    "cpus": "1",
    "healthcheck": {"tests": ["CMD", "/usr/local/bin/cryb-entrypoint", "health", "patroni"]},
}


def but(**changes: object) -> dict[str, object]:
    return {**GOOD, **changes}


CASES = [
    Case("docker-container-not-privileged", CONTAINER, GOOD, [but(privileged=True)]),
    Case(
        "docker-container-no-host-namespaces",
        CONTAINER,
        GOOD,
        [but(networkMode="host"), but(pidMode="host"), but(ipcMode="host")],
        [but(networkMode=UNKNOWN_STRING_VALUE)],
    ),
    Case(
        "docker-no-secret-in-plain-environment",
        CONTAINER,
        GOOD,
        [but(envs=["PATRONI_SUPERUSER_PASSWORD=x"]), but(envs=["REDISCLI_AUTH=x"]), but(envs=["API_TOKEN=abc"])],
    ),
    Case(
        "docker-no-secret-in-plain-environment",
        IMAGE,
        {"imageName": "x", "build": {"args": {"PG_MAJOR": "17"}}},
        [{"imageName": "x", "build": {"args": {"DB_PASSWORD": "hunter2"}}}],
    ),
    Case(
        "docker-container-limits-and-health-check",
        CONTAINER,
        GOOD,
        [
            {k: v for k, v in GOOD.items() if k != "memory"},
            but(memorySwap=-1.0),
            but(cpus=""),
            {k: v for k, v in GOOD.items() if k != "healthcheck"},
            but(healthcheck={"tests": ["NONE"]}),
        ],
        [but(memory=UNKNOWN_NUMBER_VALUE)],
    ),
]

(
    test_compliant_input_passes,
    test_violating_input_is_reported_with_what_to_change,
    test_unknown_values_are_not_violations,
    test_unknowns_recorded_offline_are_not_violations,
) = case_tests(CASES)


def test_docker_rules_apply_to_docker_types_only() -> None:
    for rule in docker.RULES.rules:
        assert isinstance(rule, ResourceRule) and rule.resource_types is not None
        assert all(t.startswith("docker:") for t in rule.resource_types), rule.name
        assert not rule.applies_to("aws:rds/instance:Instance")


def test_no_aws_rule_applies_to_a_resource_of_the_local_stack() -> None:
    local = evaluate("local")
    docker_names = {rule.name for rule in docker.RULES.rules}
    for rule in RULES.values():
        if isinstance(rule, ResourceRule) and rule.name not in docker_names:
            assert not [r.type for r in local.resources if rule.resource_types and rule.applies_to(r.type)], rule.name


def test_the_local_stack_passes_and_a_privileged_host_network_container_is_caught() -> None:
    local = evaluate("local")
    assert run_policies(local, POLICY_CONFIG_DIR / "local.json") == []
    moto = next(r for r in local.resources if r.name == "cryb-local-moto")
    moto.inputs.update(privileged=True, networkMode="host", envs=["AWS_SECRET_ACCESS_KEY=x"])
    moto.inputs.pop("healthcheck")
    found = {(v["policy"], v["level"]) for v in run_policies(local, POLICY_CONFIG_DIR / "local.json")}
    assert found == {
        ("docker-container-not-privileged", "mandatory"),
        ("docker-container-no-host-namespaces", "mandatory"),
        ("docker-no-secret-in-plain-environment", "mandatory"),
        ("docker-container-limits-and-health-check", "mandatory"),
    }
