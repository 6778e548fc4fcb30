"""Docker: the containers of the `local` stack (`cryb-db:target: docker`, components/local/).

The AWS rules decide applicability by resource type, and the local stack declares no AWS resource, so none of them
applies to it; these rules apply only to `docker:` types, so none of them applies to the AWS stacks. The local
stack's policy config is policies/config/local.json.
"""

import re
from collections.abc import Iterator

from pulumi_policy import Severity

from .base import Config, RuleSet
from .props import UNKNOWN, as_list
from .resource import Resource

RULES = RuleSet()

CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/image:Image"
HOST_MODES = ("networkMode", "pidMode", "ipcMode", "usernsMode")
# Names that say "this is a credential": such values belong in secret uploads, never in plain environment variables
# (anyone with `docker inspect` reads them) or build arguments (they stay in the image's history).
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PASSPHRASE|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH", re.I)


@RULES.resource(
    types=[CONTAINER],
    name="docker-container-not-privileged",
    description="No container runs privileged (all capabilities and every host device).",
    controls=("CRYB.10",),
    severity=Severity.CRITICAL,
    remediation="Remove privileged=True; add only the capabilities the process needs (capabilities.adds).",
)
def container_not_privileged(resource: Resource, config: Config) -> Iterator[str]:
    if resource.get("privileged") is True:
        yield "privileged=True: the container can take over the Docker host; run it unprivileged."


@RULES.resource(
    types=[CONTAINER],
    name="docker-container-no-host-namespaces",
    description="No container shares the host's network, PID, IPC or user namespace.",
    controls=("CRYB.11",),
    severity=Severity.HIGH,
    remediation="Attach the container to the stack's bridge network (networks_advanced) and publish only the ports "
    "it serves, on 127.0.0.1.",
)
def container_no_host_namespaces(resource: Resource, config: Config) -> Iterator[str]:
    for key in HOST_MODES:
        if resource.get(key) == "host":
            yield f"{key}=host: the container shares the host's namespace; use the bridge network instead."


@RULES.resource(
    types=[CONTAINER, IMAGE],
    name="docker-no-secret-in-plain-environment",
    description="No credential in a container's environment variables or an image's build arguments.",
    controls=("CRYB.12",),
    severity=Severity.HIGH,
    remediation="Upload the secret as a file (docker.Container uploads with a Pulumi secret content, mode 0600) and "
    "read it in the entrypoint.",
)
def no_secret_in_plain_environment(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == CONTAINER:
        envs = as_list(resource.get("envs"))
        for entry in envs if envs is not UNKNOWN else []:
            name = entry.partition("=")[0] if isinstance(entry, str) else ""
            if SECRET_NAME.search(name):
                yield f"environment variable {name} looks like a credential: upload it as a secret file instead."
    else:
        build_args = resource.get("build", "args", default={})
        for name in build_args if isinstance(build_args, dict) else {}:
            if SECRET_NAME.search(name):
                yield f"build argument {name} looks like a credential: it stays in the image's history."


@RULES.resource(
    types=[CONTAINER],
    name="docker-container-limits-and-health-check",
    description="Every container has a memory limit (and no unlimited swap on top), a CPU limit and a health check.",
    controls=("CRYB.13",),
    severity=Severity.MEDIUM,
    remediation="Set memory (MB), memory_swap equal to it, cpus, and healthcheck=ContainerHealthcheckArgs(tests="
    '["CMD", ...]).',
)
def container_limits_and_health_check(resource: Resource, config: Config) -> Iterator[str]:
    memory, swap, cpus = resource.get("memory"), resource.get("memorySwap"), resource.get("cpus")
    if memory is not UNKNOWN and not (isinstance(memory, int | float) and memory > 0):
        yield "no memory limit: set memory (MB)."
    elif isinstance(memory, int | float) and swap is not UNKNOWN and swap not in (memory, float(memory)):
        yield f"memory_swap={swap}: set it equal to memory ({memory:g}) so the limit is not swapped around."
    if cpus is not UNKNOWN and not cpus:
        yield "no CPU limit: set cpus (e.g. '0.5')."
    tests = resource.get("healthcheck", "tests")
    if tests is UNKNOWN:
        return
    listed = tests if isinstance(tests, list) else []
    if not listed or listed[0] == "NONE" or len(listed) < 2:
        yield "no health check: set healthcheck with tests=['CMD', ...]."
