"""Evaluate the real `__main__.py` in-process against mocks and record what the engine would receive.

Used by the offline preview and by the tests. Every resource is recorded with its type token, logical
name, parent URN and inputs (camelCase, numbers as floats, as the engine sends them); the stack outputs
are resolved with their secretness. Mocks echo inputs back and add ids and ARNs, so no input that depends
on another resource's output is silently dropped.
"""

import runpy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from scripts import PROJECT_DIR

from .stack_files import SECRET_PLACEHOLDER, read_stack_file, stack_file_path

PROJECT = "cryb-db"
MOCK_ACCOUNT_ID = "123456789012"
# Signatures the engine uses inside property structs (sdk/python/lib/pulumi/runtime/rpc.py).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    id: str | None
    custom: bool
    secret_paths: list[str] = field(default_factory=list)
    provider: str | None = None
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """URNs each input was computed from, as the SDK sends them (the engine hands them to stack policies)."""
    registered_outputs: dict[str, Any] | None = None
    """A component's `register_outputs` (its outputs in the engine's state); None for custom resources."""
    registered_secret_paths: list[str] = field(default_factory=list)

    def masked_inputs(self) -> dict[str, Any]:
        """Inputs with every secret value replaced by `[secret]`."""
        return _mask(self.inputs, set(self.secret_paths), "")


@dataclass
class Evaluation:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    config: dict[str, str]
    root_urn: str = ""
    """The URN of the stack resource (`pulumi:pulumi:Stack`) that holds the outputs and parents top-level resources."""
    first_preview: bool = False
    """Evaluated as a first `pulumi preview` (nothing exists yet): ids and computed outputs are unknown (None)."""

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]

    def by_id(self, resource_id: str) -> RecordedResource | None:
        return next((r for r in self.resources if r.id == resource_id), None)

    def by_urn(self, urn: str) -> RecordedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def children(self, urn: str | None) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == urn]

    def ancestors(self, resource: RecordedResource) -> Iterator[RecordedResource]:
        parent = self.by_urn(resource.parent) if resource.parent else None
        while parent is not None:
            yield parent
            parent = self.by_urn(parent.parent) if parent.parent else None

    def masked_outputs(self) -> dict[str, Any]:
        return {k: (SECRET_PLACEHOLDER if k in self.secret_outputs else v) for k, v in self.outputs.items()}


def _mask(value: Any, secret_paths: set[str], path: str) -> Any:
    if path in secret_paths:
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: _mask(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secret_paths, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _plain(value: Any, path: str, secrets: list[str]) -> Any:
    """Unwrap the engine's signature objects: secrets (path noted), resource references (their URN), unknowns."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            secrets.append(path)
            return _plain(value.get("value"), path, [])
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                secrets.append(path)
            return _plain(value.get("value"), path, []) if "value" in value else None
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    if value == _UNKNOWN:
        return None
    return value


# Attributes AWS computes that components read; mocks must return them or dependent inputs vanish.
def _computed(type_token: str, name: str, region: str) -> dict[str, Any]:
    # RDS reports a managed master password as its secret's ARN and status, never the password.
    master_secret = {
        "secretArn": f"arn:aws:secretsmanager:{region}:{MOCK_ACCOUNT_ID}:secret:rds!db-{name}-AbCdEf",
        "secretStatus": "active",
    }
    return {
        "aws:ec2/vpc:Vpc": {
            "defaultNetworkAclId": f"{name}-default-nacl-id",
            "defaultSecurityGroupId": f"{name}-default-sg-id",
            "defaultRouteTableId": f"{name}-default-rt-id",
            "mainRouteTableId": f"{name}-default-rt-id",
        },
        "aws:ec2/eip:Eip": {"allocationId": f"{name}-alloc-id", "publicIp": "198.51.100.10"},
        "aws:kms/key:Key": {"keyId": f"{name}-key-id"},
        # S3 and IAM ARNs carry no region; policies built from them must look like the real ones.
        "aws:s3/bucket:Bucket": {"arn": f"arn:aws:s3:::{name}", "bucket": name},
        "aws:iam/role:Role": {"arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{name}"},
        "aws:backup/vault:Vault": {"arn": f"arn:aws:backup:{region}:{MOCK_ACCOUNT_ID}:backup-vault:{name}"},
        "aws:ec2/securityGroup:SecurityGroup": {"name": name},
        "aws:cloudwatch/logGroup:LogGroup": {"arn": f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:{name}"},
        "aws:rds/instance:Instance": {
            "arn": f"arn:aws:rds:{region}:{MOCK_ACCOUNT_ID}:db:{name}",
            "address": f"{name}.c0ffee0example.{region}.rds.amazonaws.com",
            "masterUserSecrets": [master_secret],
        },
        "aws:rds/cluster:Cluster": {
            "arn": f"arn:aws:rds:{region}:{MOCK_ACCOUNT_ID}:cluster:{name}",
            "endpoint": f"{name}.cluster-c0ffee0example.{region}.rds.amazonaws.com",
            "readerEndpoint": f"{name}.cluster-ro-c0ffee0example.{region}.rds.amazonaws.com",
            "masterUserSecrets": [master_secret],
        },
        "aws:rds/proxy:Proxy": {
            "arn": f"arn:aws:rds:{region}:{MOCK_ACCOUNT_ID}:db-proxy:prx-{name}",
            "endpoint": f"{name}.proxy-c0ffee0example.{region}.rds.amazonaws.com",
        },
        "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup": {"name": "default"},
        "aws:sns/topic:Topic": {"arn": f"arn:aws:sns:{region}:{MOCK_ACCOUNT_ID}:{name}"},
        # Monitoring (components/monitoring/component.py, components/monitoring/alerts.py): alarm, function and queue
        # ARNs as AWS forms them.
        "aws:cloudwatch/metricAlarm:MetricAlarm": {
            "arn": f"arn:aws:cloudwatch:{region}:{MOCK_ACCOUNT_ID}:alarm:{name}"
        },
        "aws:lambda/function:Function": {"arn": f"arn:aws:lambda:{region}:{MOCK_ACCOUNT_ID}:function:{name}"},
        # Code signing (components/signing): the profile version a code signing configuration allows, the S3
        # version a signing job signs; the job's signed object is added from its inputs (`_signed_object`).
        "aws:signer/signingProfile:SigningProfile": {
            "arn": f"arn:aws:signer:{region}:{MOCK_ACCOUNT_ID}:/signing-profiles/{name}",
            "version": "Ab1Cd2Ef3G",
            "versionArn": f"arn:aws:signer:{region}:{MOCK_ACCOUNT_ID}:/signing-profiles/{name}/Ab1Cd2Ef3G",
        },
        "aws:lambda/codeSigningConfig:CodeSigningConfig": {
            "arn": f"arn:aws:lambda:{region}:{MOCK_ACCOUNT_ID}:code-signing-config:csc-{sum(name.encode()):017x}",
        },
        "aws:s3/bucketObjectv2:BucketObjectv2": {"versionId": f"v-{name}-0001"},
        "aws:sqs/queue:Queue": {
            "arn": f"arn:aws:sqs:{region}:{MOCK_ACCOUNT_ID}:{name}",
            "url": f"https://sqs.{region}.amazonaws.com/{MOCK_ACCOUNT_ID}/{name}",
        },
        # Cache tier (components/cache/component.py): a stand-in password (random marks `result` secret itself), the
        # cluster's configuration endpoint, launch template versions and node addresses.
        "random:index/randomPassword:RandomPassword": {"result": f"mock-{name}-pw-5ecret0000000000"},
        "aws:elasticache/replicationGroup:ReplicationGroup": {
            "configurationEndpointAddress": f"clustercfg.{name}.c0ffee.use1.cache.amazonaws.com",
            "arn": f"arn:aws:elasticache:{region}:{MOCK_ACCOUNT_ID}:replicationgroup:{name}",
        },
        "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
        # A Global Datastore's id: AWS prefixes the suffix with a region code (components/dr/cache_standby.py).
        "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": {"globalReplicationGroupId": f"ldgnf-{name}"},
        # The single-user rotation function of the RDS shards' role secrets (components/postgres/role_secrets.py).
        "aws:serverlessrepository/cloudFormationStack:CloudFormationStack": {
            "outputs": {"RotationLambdaARN": f"arn:aws:lambda:{region}:{MOCK_ACCOUNT_ID}:function:{name}"}
        },
        # Self-hosted PostgreSQL (components/selfhosted/component.py): stable node addresses, NLB DNS names and
        # the private zone's id, which DNS records and rendered configuration are built from.
        "aws:ec2/networkInterface:NetworkInterface": {
            "privateIp": f"10.98.{len(name) % 256}.{sum(name.encode()) % 250 + 4}",
            "arn": f"arn:aws:ec2:{region}:{MOCK_ACCOUNT_ID}:network-interface/eni-{name}",
        },
        "aws:lb/loadBalancer:LoadBalancer": {
            "arn": f"arn:aws:elasticloadbalancing:{region}:{MOCK_ACCOUNT_ID}:loadbalancer/net/{name}/0123456789abcdef",
            "arnSuffix": f"net/{name}/0123456789abcdef",  # the CloudWatch `LoadBalancer` dimension
            "dnsName": f"{name}-0123456789abcdef.elb.{region}.amazonaws.com",
            "zoneId": "Z26RNL4JYFTOTI",
        },
        "aws:lb/targetGroup:TargetGroup": {
            "arn": f"arn:aws:elasticloadbalancing:{region}:{MOCK_ACCOUNT_ID}:targetgroup/{name}/fedcba9876543210",
            "arnSuffix": f"targetgroup/{name}/fedcba9876543210",  # the CloudWatch `TargetGroup` dimension
        },
        "aws:route53/zone:Zone": {"zoneId": f"Z0{sum(name.encode()):012d}"},
        "aws:iam/instanceProfile:InstanceProfile": {"arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:instance-profile/{name}"},
        "aws:ec2/instance:Instance": {
            "privateIp": f"10.99.{len(name) % 256}.{sum(name.encode()) % 250 + 4}",
            "arn": f"arn:aws:ec2:{region}:{MOCK_ACCOUNT_ID}:instance/i-{name}",
        },
    }.get(type_token, {})


def _signed_object(type_token: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """A signing job's signed copy, where AWS Signer writes it on the Lambda platform: `<prefix><job id>.zip`."""
    if type_token != "aws:signer/signingJob:SigningJob":
        return {}
    destination = (inputs.get("destination") or {}).get("s3") or {}
    job_id = f"{sum(name.encode()):08x}-0000-4000-8000-000000000000"
    signed = {"bucket": destination.get("bucket"), "key": f"{destination.get('prefix', '')}{job_id}.zip"}
    return {"jobId": job_id, "signedObjects": [{"s3s": [signed]}], "status": "Succeeded"}


# Computed outputs that are still known in a first preview: the provider's Check fills in the auto-name.
_KNOWN_BEFORE_CREATE = frozenset({"name", "bucket"})


class EchoMocks(pulumi.runtime.Mocks):
    """Echo inputs back as outputs and add the ids, names and ARNs AWS would compute.

    With `first_preview`, behave as the engine does in the preview of a stack that does not exist yet: a new
    resource's id and the outputs the provider computes (ARNs, key ids, endpoints) are unknown; its inputs and
    auto-names are known.
    """

    def __init__(self, region: str, first_preview: bool = False):
        self.region = region
        self.first_preview = first_preview
        self.provider_regions: dict[str, str] = {}
        """Explicit providers' regions by logical name: what they declare is in that region (its ARNs say so)."""

    def region_of(self, provider: str | None, inputs: dict[str, Any]) -> str:
        """Where a resource lives: its own `region` input (pulumi-aws 7), else its provider's, else the stack's."""
        own = inputs.get("region")
        if isinstance(own, str) and own:
            return own
        if provider:  # `<provider URN>::<id>`; the URN ends in the provider's logical name
            return self.provider_regions.get(provider.split("::")[-2], self.region)
        return self.region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        service = args.typ.split(":")[1].split("/")[0] if args.typ.startswith("aws:") else "mock"
        if args.typ == "pulumi:providers:aws" and isinstance(args.inputs.get("region"), str):
            self.provider_regions[args.name] = args.inputs["region"]
        region = self.region_of(args.provider, args.inputs)
        state = dict(args.inputs)
        state.setdefault("name", args.name)
        state.setdefault(
            "arn", f"arn:aws:{service}:{region}:{MOCK_ACCOUNT_ID}:{args.typ.split(':')[-1].lower()}/{args.name}"
        )
        computed = _computed(args.typ, state["name"], region) | _signed_object(args.typ, args.name, args.inputs)
        state.update({k: v for k, v in computed.items() if k == "arn" or k not in args.inputs})
        if self.first_preview and args.custom:
            for key in {"arn", *computed} - set(args.inputs) - _KNOWN_BEFORE_CREATE:
                state[key] = rpc.UNKNOWN
            return "", state  # an empty id is an unknown one
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        zones_region = self.region_of(args.provider, dict(args.args))
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getRegion:getRegion": {
                "region": self.region,
                "name": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
            },
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/preview",
                "userId": "AIDAPREVIEW",
                "id": MOCK_ACCOUNT_ID,
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "names": [f"{zones_region}{s}" for s in "abcd"],
                "zoneIds": [f"use1-az{i}" for i in range(1, 5)],
                "id": zones_region,
            },
            "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"},
        }
        if args.token not in answers:
            raise NotImplementedError(f"the mock engine has no answer for invoke {args.token}; add one in {__name__}")
        return answers[args.token], []


class RecordingMonitor(mocks.MockMonitor):
    """MockMonitor that also keeps what the engine would see: parent, raw inputs, provider."""

    def __init__(self, mock: EchoMocks):
        super().__init__(mock)
        self.recorded: list[RecordedResource] = []
        self.root_urn = ""
        self.registered_outputs: dict[str, tuple[dict[str, Any], list[str]]] = {}

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        secrets: list[str] = []
        raw = json_format.MessageToDict(request.outputs, preserving_proto_field_name=True)
        self.registered_outputs[request.urn] = (_plain(raw, "", secrets), secrets)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.root_urn = response.urn
            return response
        secrets: list[str] = []
        raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        inputs = _plain(raw, "", secrets)
        parent = request.parent or None
        if parent and parent.split("::")[2] == "pulumi:pulumi:Stack":
            parent = None  # top-level resources: the stack itself is not recorded
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=parent,
                inputs=inputs,
                id=response.id or None,
                custom=bool(request.custom),
                secret_paths=secrets,
                provider=request.provider or None,
                property_dependencies={
                    key: list(deps.urns) for key, deps in request.propertyDependencies.items() if deps.urns
                },
            )
        )
        return response


@contextmanager
def _without_stack_traces() -> Iterator[None]:
    """Skip the source stack trace the SDK sends with every registration: a real engine shows it in errors, the mock
    monitor ignores it, and building it (every frame's path as a file URI) is a third of each registration's cost,
    ~10% of a preview at 1,600 resources (docs/benchmarks.md#offline-preview-at-scale). The empty trace is what the
    SDK itself sends when it finds no user frame. If a pulumi release renames the function, nothing is skipped."""
    original = getattr(runtime_resource, "_get_stack_trace", None)
    if original is None:
        yield
        return
    runtime_resource._get_stack_trace = source_pb2.StackTrace  # pyright: ignore[reportPrivateUsage]
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original  # pyright: ignore[reportPrivateUsage]


async def _resolve(value: Any) -> tuple[Any, bool]:
    output = pulumi.Output.from_input(value)
    return await output.future(), bool(await output.is_secret())


def evaluate(
    stack: str, config_file: Path | None = None, program_dir: Path = PROJECT_DIR, *, first_preview: bool = False
) -> Evaluation:
    """Run `program_dir/__main__.py` for `stack` with the config of `config_file` (default Pulumi.<stack>.yaml).

    `first_preview`: evaluate as the first `pulumi preview` of a new stack (EchoMocks), where every value computed from
    a new resource's id or computed outputs is unknown (recorded as None). Exceptions of the program (ConfigError among
    them) propagate unchanged.
    """
    stack_file = read_stack_file(config_file or stack_file_path(stack))
    region = stack_file.config.get("aws:region", "us-east-1")
    mock = EchoMocks(region, first_preview)
    monitor = RecordingMonitor(mock)
    settings.ROOT.set(None)  # a fresh root stack resource per evaluation
    set_all_config(dict(stack_file.config), list(stack_file.secret_keys))
    mocks.set_mocks(mock, project=PROJECT, stack=stack, preview=first_preview, monitor=monitor)
    if str(program_dir) not in sys.path:
        sys.path.insert(0, str(program_dir))

    def program() -> None:
        runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__")

    with _without_stack_traces():
        _sync_await(run_pulumi_func(program))
    root = settings.get_root_resource()
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in dict(getattr(root, "outputs", {})).items():
        resolved, is_secret = _sync_await(_resolve(value))
        outputs[key] = resolved
        if is_secret:
            secret_outputs.add(key)
    for resource in monitor.recorded:
        if not resource.custom and resource.urn in monitor.registered_outputs:
            resource.registered_outputs, resource.registered_secret_paths = monitor.registered_outputs[resource.urn]
    # Registration order varies between runs (async); URN order keeps previews diffable.
    resources = sorted(monitor.recorded, key=lambda r: r.urn)
    return Evaluation(
        stack, resources, outputs, secret_outputs, dict(stack_file.config), monitor.root_urn, first_preview
    )
