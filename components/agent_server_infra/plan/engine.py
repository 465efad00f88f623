"""Run a Pulumi program or component offline, under ``pulumi.runtime.set_mocks``, and record what it creates.

Every registered resource is recorded with its type, name, parent, inputs (engine camelCase, secrets kept as
secret markers), dependencies and the computed outputs the mocks returned. The mocks compute realistic outputs
for RDS, ElastiCache, security groups, random passwords and Kubernetes objects so components that read them
(endpoints, generated names, passwords) behave as they would in a real preview.

The engine uses the SDK as shipped, through its public interfaces only (``set_mocks``, ``pulumi.runtime.test``,
a ``MockMonitor`` subclass): nothing of ``pulumi``, ``pulumi_aws`` or ``pulumi_kubernetes`` is patched, so every
SDK release runs as its authors tested it. Three choices of its own keep a plan close to the SDK's own cost for the
same resources (``benchmarks/plan_speed.py`` measures it against a replay of the plan's resources):

- :class:`RecordingMonitor` answers from the request's own encoding of the inputs instead of encoding the mocks'
  state anew, and records each resource as it registers;
- monitor calls run inline on the event loop (:class:`_InlineExecutor`), so registrations happen in the order the
  program's coroutines reach them, the same in every run (a thread pool could reorder them);
- :func:`run_file` hands the program's code to the SDK without frames of its own between them (the SDK walks the
  call stack of every registration).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import hashlib
import json
import os
import re
import string
import sys
import types
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import Stack

SECRET = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
ACCOUNT_ID = "123456789012"


class Secret:
    """A recorded value the program marked secret."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:  # never print the value
        return "Secret([secret])"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(repr(self.value))


def unwrap_secrets(value: Any) -> Any:
    """Turn the RPC layer's secret envelopes into :class:`Secret` markers, recursively."""
    if rpc.is_rpc_secret(value):
        return Secret(reveal(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


@dataclass
class RecordedResource:
    """One resource as the engine would see it.

    ``inputs`` and ``outputs`` mark secret values as :class:`Secret`; they are built on first use from
    ``wire_inputs``/``wire_outputs``, the values as decoded from the wire (secrets as RPC envelopes), which is
    all a plan document needs.
    """

    urn: str
    type: str
    name: str
    parent: str | None
    wire_inputs: dict[str, Any] = field(repr=False)
    wire_outputs: dict[str, Any] = field(repr=False)
    dependencies: list[str]
    protect: bool = False
    custom: bool = True
    registered_outputs: dict[str, Any] = field(default_factory=dict)
    """What a component passed to ``register_outputs`` (secret values as :class:`Secret`)."""
    provider: str | None = None
    """The provider reference the SDK sent (``<provider urn>::<id>``); ``None`` for the default provider."""

    @functools.cached_property
    def inputs(self) -> dict[str, Any]:
        """The inputs the program passed (engine camelCase), secret values as :class:`Secret`."""
        return unwrap_secrets(self.wire_inputs)

    @functools.cached_property
    def outputs(self) -> dict[str, Any]:
        """The state the mocks returned (inputs and computed outputs), secret values as :class:`Secret`."""
        return unwrap_secrets(self.wire_outputs)

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with secret values shown (for assertions that need them)."""
        return reveal(self.wire_inputs)


def reveal(value: Any) -> Any:
    """``value`` with every secret shown: :class:`Secret` markers and the wire's secret envelopes unwrapped."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if rpc.is_rpc_secret(value):
        return reveal(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


@dataclass
class Recording:
    """Everything a program registered, in registration order, plus its stack outputs."""

    project: str
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_type(self, type_: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == type_]

    def one(self, type_: str, name: str | None = None) -> RecordedResource:
        matches = [r for r in self.by_type(type_) if name is None or r.name == name]
        if len(matches) != 1:
            raise LookupError(f"expected one {type_} {name or ''}, found {[r.name for r in matches]}")
        return matches[0]

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def ancestors(self, resource: RecordedResource) -> list[RecordedResource]:
        chain: list[RecordedResource] = []
        parent = resource.parent
        while parent:
            try:
                found = self.by_urn(parent)
            except LookupError:
                break
            chain.append(found)
            parent = found.parent
        return chain


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


_URL_SAFE = string.ascii_letters + string.digits


def fake_password(name: str, length: int, special: str) -> str:
    """A deterministic password honouring the requested length and special-character set."""
    alphabet = _URL_SAFE + special
    seed = hashlib.sha256(name.encode()).digest()
    while len(seed) < length:
        seed += hashlib.sha256(seed).digest()
    return "".join(alphabet[byte % len(alphabet)] for byte in seed[:length])


class _Plain:
    """Read-only view of a resource's inputs with secret envelopes stripped from the values read (the mocks read
    a handful of keys; stripping a whole Deployment spec up front is wasted work)."""

    __slots__ = ("inputs",)

    def __init__(self, inputs: Mapping[str, Any]) -> None:
        self.inputs = inputs

    def get(self, key: str, default: Any = None) -> Any:
        return reveal(self.inputs[key]) if key in self.inputs else default

    def __contains__(self, key: object) -> bool:
        return key in self.inputs


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that compute provider-like outputs and remember every resource."""

    def __init__(self, recording: Recording, region: str = "us-east-1") -> None:
        self.recording = recording
        self.region = region

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region, "id": self.region}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws",
                    "reverseDnsPrefix": "com.amazonaws"}, []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:root", "userId": "AIDA"}, []
        return {}, []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        typ, name = args.typ, args.name
        plain = _Plain(inputs)
        state: dict[str, Any] = dict(inputs)
        resource_id = f"{name}-{_digest(typ, name)}"
        arn_base = f"arn:aws:{{}}:{self.region}:{ACCOUNT_ID}"
        generated = auto_name(typ, name, plain) if typ.startswith("aws:") else {}
        state.update(generated)
        if typ == "aws:rds/instance:Instance":
            identifier = plain.get("identifier") or generated["identifier"]
            port = plain.get("port") or 5432
            address = f"{identifier}.c{_digest(identifier, length=10)}.{self.region}.rds.amazonaws.com"
            state.update(address=address, endpoint=f"{address}:{port}", port=port, identifier=identifier,
                         arn=arn_base.format("rds") + f":db:{identifier}", resourceId=f"db-{_digest(name, length=20)}")
            resource_id = identifier
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            group = plain.get("replicationGroupId") or generated["replicationGroupId"]
            suffix = f"{_digest(group, length=6)}.{self.region.replace('-', '')[:4]}.cache.amazonaws.com"
            port = plain.get("port") or 6379
            if plain.get("clusterMode") == "enabled":
                state.update(configurationEndpointAddress=f"clustercfg.{group}.{suffix}")
            else:
                state.update(primaryEndpointAddress=f"master.{group}.{suffix}",
                             readerEndpointAddress=f"replica.{group}.{suffix}")
            state.update(port=port, arn=arn_base.format("elasticache") + f":replicationgroup:{group}",
                         replicationGroupId=group)
            resource_id = group
        elif typ in EC2_ID_PREFIXES:
            resource_id = f"{EC2_ID_PREFIXES[typ]}-{_digest(typ, name, length=17)}"
            kind = typ.split(":")[-1]
            state.update(arn=arn_base.format("ec2") + f":{re.sub(r'(?<!^)(?=[A-Z])', '-', kind).lower()}/"
                                                     f"{resource_id}")
        elif typ == "aws:iam/role:Role":
            # IAM is global: no region in the ARN, and the name after ``role/`` (the path's, when one is set).
            role = plain.get("name") or generated.get("name") or name
            state.update(name=role, arn=f"arn:aws:iam::{ACCOUNT_ID}:role{plain.get('path') or '/'}{role}",
                         uniqueId=f"AROA{_digest(typ, name, length=17).upper()}")
            resource_id = role
        elif typ == "random:index/randomPassword:RandomPassword":
            length = int(plain.get("length") or 32)
            special = plain.get("overrideSpecial", "") if plain.get("special", True) else ""
            result = fake_password(name, length, special or "")
            # The provider marks these secret (additionalSecretOutputs); mocks must say so themselves.
            state.update(result=rpc.wrap_rpc_secret(result),
                         bcryptHash=rpc.wrap_rpc_secret(f"$2a$10${_digest(result, length=53)}"))
        elif typ == "random:index/randomId:RandomId":
            raw = hashlib.sha256(json.dumps([name, plain.get("keepers")], sort_keys=True).encode()).digest()
            raw = raw[:int(plain.get("byteLength") or 8)]
            prefix = plain.get("prefix") or ""
            state.update(hex=prefix + raw.hex(), dec=prefix + str(int.from_bytes(raw, "big")),
                         b64Url=prefix + base64.urlsafe_b64encode(raw).decode().rstrip("="),
                         b64Std=prefix + base64.b64encode(raw).decode())
            resource_id = state["b64Url"]
        if typ.startswith("kubernetes:"):
            metadata = dict(plain.get("metadata") or {})
            # Auto-named ConfigMaps and Secrets get a new name when their data changes (a replacement), which
            # is what rolls the pods that reference them.
            # Canonical JSON: the order of a map decoded from the wire is not stable across processes.
            content = json.dumps(plain.get("data") or plain.get("stringData"), sort_keys=True, default=str)
            metadata.setdefault("name", f"{name}-{_digest(typ, name, content, length=8)}")
            state["metadata"] = metadata
            resource_id = metadata["name"]
        state.setdefault("id", resource_id)
        state.setdefault("arn", arn_base.format(typ.split(":")[1].split("/")[0]) + f":{resource_id}")
        return resource_id, state


EC2_ID_PREFIXES: dict[str, str] = {
    "aws:ec2/securityGroup:SecurityGroup": "sg", "aws:ec2/vpc:Vpc": "vpc", "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw", "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/routeTable:RouteTable": "rtb", "aws:ec2/eip:Eip": "eipalloc",
}
"""EC2 ids as AWS makes them (``vpc-`` and 17 hex digits), so programs that pass them on validate as they would."""
AUTO_NAMES: dict[str, tuple[str, str, int, bool]] = {
    "aws:rds/instance:Instance": ("identifier", "", 255, False),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("replicationGroupId", "-", 40, True),
}
"""Where pulumi-aws auto-names differently from its default (``name``: the logical name, ``-``, 7 random hex
digits, at most 255 characters, case kept): property, separator, maximum length and whether it lower-cases
(pulumi/pulumi-aws ``provider/autonaming.go`` and ``provider/resource_overrides.go``)."""
AUTO_NAME_DEFAULT = ("name", "-", 255, False)


class AutoNameTooLongError(ValueError):
    """pulumi-aws refuses an auto-name over the maximum length rather than truncating it."""


def auto_name(typ: str, name: str, inputs: _Plain) -> dict[str, str]:
    """The name pulumi-aws would generate for an unnamed resource (here with a stable suffix), as the mocks'
    state; nothing when the program named it."""
    prop, separator, max_length, lower = AUTO_NAMES.get(typ, AUTO_NAME_DEFAULT)
    if prop in inputs:
        return {}
    generated = f"{name.lower() if lower else name}{separator}{_digest(typ, name, length=7)}"
    if len(generated) > max_length:
        raise AutoNameTooLongError(f"name {name!r} plus 7 random chars is longer than maximum length {max_length}")
    return {prop: generated}


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """An executor that runs each call at once on the calling thread (a thread pool that never starts a thread:
    asyncio accepts only ``ThreadPoolExecutor`` instances as a loop's default executor).

    The SDK hands every monitor call to its event loop's default executor, because a real monitor is a gRPC
    server in another process. :class:`RecordingMonitor` answers in microseconds and never blocks, so during
    :func:`run` the loop's default executor is this one: registrations then happen in the order the program's
    coroutines reach them, the same in every run (a thread pool could reorder them), without a thread hop each.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a thread pool does
            future.set_exception(exc)
        return future


def _event_loop() -> asyncio.AbstractEventLoop:
    """The loop the SDK runs the program on: this thread's current event loop, made (and set) when it has none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: no implicit loop; we make one below
        try:
            return asyncio.get_event_loop()
        except RuntimeError:
            pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def _response_object(request_object: struct_pb2.Struct, inputs: Mapping[str, Any],
                     state: Mapping[str, Any]) -> struct_pb2.Struct:
    """The mocks' ``state`` as the response's properties: what the stock mock monitor's
    ``serialize_properties(state)`` sends, built from the request's own encoding of the inputs.

    The mocks return the inputs they were given plus computed outputs. The inputs are already encoded in the
    request (the SDK encoded them), so the response starts from a copy of it; only the values the mocks added or
    changed (plain data: names, endpoints, ids, secret envelopes) are encoded here, and a ``None`` is left out as
    the SDK's serializer leaves it out.
    """
    response = struct_pb2.Struct()
    response.CopyFrom(request_object)
    for key in [key for key in response if state.get(key) is None]:
        del response[key]
    response.update({key: value for key, value in state.items()
                     if value is not None and not (key in inputs and value is inputs[key])})
    return response


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The stock mock monitor, plus a record of type, name, parent, inputs, dependencies and protect of each
    registration.

    ``RegisterResource`` does what the stock one does (deserialize the inputs, ask the mocks, answer with their
    state) and records it; the answer reuses the request's encoding of the inputs (:func:`_response_object`).

    When the mocks refuse a registration (an auto-name too long for the provider), the refusal is kept in
    :attr:`refused` and the resource is answered with its inputs, as a preview goes on past a resource the
    provider refuses; :func:`run` raises the first refusal once the program is done. Raising into the SDK instead
    would fail every output future of the resource, and the ones the program never reads would be reported as
    "never retrieved" whenever they are collected, long after the run.
    """

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks
        self.recorded: dict[str, RecordedResource] = {}
        self.refused: list[Exception] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = rpc.deserialize_properties(request.object)
        try:
            resource_id, state = self.recording_mocks.new_resource(pulumi.runtime.MockResourceArgs(
                typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
                resource_id=request.importId, custom=request.custom or False,
            ))
        except Exception as exc:  # raised by run() once the program is done
            self.refused.append(exc)
            resource_id, state = "", dict(inputs)
        response = resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=_response_object(request.object, inputs, state))
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, cast(str, resource_id), state)
        resource = RecordedResource(
            urn=urn, type=request.type, name=request.name, parent=request.parent or None,
            wire_inputs=inputs, wire_outputs=state,
            dependencies=sorted(set(request.dependencies)), protect=bool(request.protect),
            custom=bool(request.custom), provider=request.provider or None,
        )
        self.recording_mocks.recording.resources.append(resource)
        self.recorded[urn] = resource
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        resource = self.recorded.get(request.urn)
        if resource is not None:
            resource.registered_outputs = unwrap_secrets(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)


def _to_config(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = await output.future()
    if await output.is_secret():
        return Secret(reveal(_plainify(resolved)))
    return unwrap_secrets(_plainify(resolved))


def _plainify(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plainify(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plainify(item) for item in value]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return value


def run(
    program: Callable[[], None],
    *,
    config: Mapping[str, Any] | None = None,
    secret_keys: list[str] | None = None,
    project: str = "agent-server",
    stack: str = "dev",
    region: str = "us-east-1",
    recording: Recording | None = None,
) -> Recording:
    """Run ``program`` under mocks with ``config`` (full keys such as ``agent-server:server``) and record it.

    Structured config values are passed as JSON text, as the Pulumi engine does. Returns the recording with
    every resource and the resolved stack outputs (secret outputs as :class:`Secret`). Pass ``recording`` to
    keep what was registered even when the program raises. A registration the mocks refused is raised once the
    program is done (see :class:`RecordingMonitor`).

    Everything goes through the SDK's public interfaces: ``reset_options`` and ``set_mocks`` give each run a new
    root stack and this monitor, ``pulumi.runtime.test`` runs the program and waits for every registration and
    output, and the event loop's default executor is :class:`_InlineExecutor` for the duration of the run.
    """
    recording = recording if recording is not None else Recording(project=project, stack=stack)
    mocks = RecordingMocks(recording, region=region)
    monitor = RecordingMonitor(mocks)
    loop = _event_loop()
    set_all_config(_to_config(config or {}), secret_keys or [])
    pulumi.runtime.reset_options(project=project, stack=stack)  # a new root stack; nothing left of an earlier run
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    root = pulumi.runtime.get_root_resource()
    if not isinstance(root, Stack):  # set_mocks makes one
        raise RuntimeError("pulumi.runtime.set_mocks made no root stack")

    async def collect() -> None:
        for key, value in root.outputs.items():
            recording.outputs[key] = await _resolve(value)

    loop.set_default_executor(_InlineExecutor())
    try:
        try:
            pulumi.runtime.test(program)()
            pulumi.runtime.test(collect)()
        except Exception as exc:
            if not monitor.refused:
                raise
            monitor.refused[0].add_note(f"the program then raised {type(exc).__name__}: {exc}")
        if monitor.refused:
            first, *others = monitor.refused
            for other in others:
                first.add_note(f"also refused: {type(other).__name__}: {other}")
            raise first
    finally:
        # A pool of its own (asyncio's default; no thread starts until used): closing the loop shuts it down.
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio"))
        set_all_config({}, [])
        pulumi.runtime.reset_options()
    return recording


def run_file(path: Path, **kwargs: Any) -> Recording:
    """Run a Pulumi program file (``__main__.py``) under mocks, with its directory as the working directory.

    The program runs as ``runpy.run_path(path, run_name="__main__")`` would run it (so Pulumi's Python host runs a
    program): a fresh ``__main__`` module with ``__file__`` set, and ``sys.argv[0]`` the file meanwhile. Its code is
    handed to the SDK as the program itself (``exec`` adds no Python frame): the SDK records where each resource
    was created by walking the whole call stack, so every frame between the program and the SDK costs every
    registration (four frames of ``runpy`` were a fiftieth of a 50-server plan).
    """
    directory = str(path.parent.resolve())
    module = types.ModuleType("__main__")
    module.__dict__.update(__file__=str(path), __cached__=None, __loader__=None, __package__=None, __spec__=None)
    code = compile(path.read_bytes(), str(path), "exec")
    previous, previous_main = os.getcwd(), sys.modules.get("__main__")
    previous_argv0 = sys.argv[0] if sys.argv else None
    sys.path.insert(0, directory)
    try:
        os.chdir(directory)
        sys.modules["__main__"] = module
        if sys.argv:
            sys.argv[0] = str(path)
        return run(functools.partial(exec, code, module.__dict__), **kwargs)
    finally:
        if previous_argv0 is not None:
            sys.argv[0] = previous_argv0
        if previous_main is not None:
            sys.modules["__main__"] = previous_main
        os.chdir(previous)
        sys.path.remove(directory)
