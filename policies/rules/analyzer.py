"""The pack's analyzer server refuses a policy config naming a policy or setting the pack does not have.

pulumi_policy's `PolicyPack` builds its gRPC servicer from `pulumi_policy.policy._PolicyAnalyzerServicer` (pinned
pulumi-policy 1.21.0); `refuse_unknown_config()` swaps in a subclass whose `Configure` first runs
`pack_config.unknown_config_problems` and answers INVALID_ARGUMENT with one line per problem, so
`pulumi preview --policy-pack policies --policy-pack-config FILE` stops before analyzing anything. Everything else is
the SDK's own servicer.
"""

from typing import Any

import grpc
from google.protobuf import json_format
from pulumi_policy import policy as sdk_policy

from .base import AnyRule
from .pack_config import unknown_config_problems


def configure_problems(request: Any, rules: list[AnyRule]) -> list[str]:
    """The problems of a `ConfigureAnalyzerRequest` (what the engine sends after applying the config file)."""
    config = request.policyConfig
    properties = {name: json_format.MessageToDict(config[name].properties) for name in config}
    return unknown_config_problems(properties, rules)


def refuse_unknown_config(rules: list[AnyRule]) -> None:
    """Make the analyzer server `PolicyPack` is about to start refuse unknown policies and settings at Configure."""
    base = getattr(sdk_policy, "_PolicyAnalyzerServicer", None)
    if base is None or not hasattr(base, "Configure"):
        raise RuntimeError(
            "pulumi_policy has no _PolicyAnalyzerServicer.Configure: policies/rules/analyzer.py needs updating for "
            "this pulumi-policy version (pinned 1.21.0 in policies/requirements.txt)"
        )

    class StrictConfigServicer(base):  # type: ignore[misc, valid-type]
        def Configure(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
            problems = configure_problems(request, rules)
            if problems:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid policy config: " + "; ".join(problems))
            return super().Configure(request, context)

    sdk_policy._PolicyAnalyzerServicer = StrictConfigServicer  # pyright: ignore[reportPrivateUsage]
