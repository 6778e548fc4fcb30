"""Declare one Kubernetes object from its manifest dict, with the type token pulumi-kubernetes gives its kind.

The typed classes of pulumi-kubernetes send exactly `{apiVersion, kind, metadata, spec|data|...}` to the provider;
importing them costs about a second (their input types), which the offline preview cannot afford. This class sends
the same properties under the same type token, so the provider (and the URN) cannot tell the difference.
"""

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_kubernetes import _utilities as kubernetes_sdk


def type_token(api_version: str, kind: str) -> str:
    """`v1` Namespace -> `kubernetes:core/v1:Namespace`; `apps/v1` Deployment -> `kubernetes:apps/v1:Deployment`."""
    return f"kubernetes:{'core/v1' if api_version == 'v1' else api_version}:{kind}"


class KubernetesObject(pulumi.CustomResource):
    """A Kubernetes object declared from its manifest (components/kubernetes/manifests.py)."""

    def __init__(self, name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None):
        defaults = pulumi.ResourceOptions(version=kubernetes_sdk.get_version())
        props = {key: value for key, value in manifest.items() if key != "status"}
        super().__init__(
            type_token(manifest["apiVersion"], manifest["kind"]),
            name,
            props,
            pulumi.ResourceOptions.merge(defaults, opts),
        )


class HelmRelease(pulumi.CustomResource):
    """A Helm release (`kubernetes:helm.sh/v3:Release`), declared from its properties as pulumi-kubernetes' typed
    class sends them (`chart`, `version`, `repositoryOpts`, `namespace`, `values`, ...)."""

    def __init__(self, name: str, props: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None):
        defaults = pulumi.ResourceOptions(version=kubernetes_sdk.get_version())
        super().__init__(
            "kubernetes:helm.sh/v3:Release", name, dict(props), pulumi.ResourceOptions.merge(defaults, opts)
        )
