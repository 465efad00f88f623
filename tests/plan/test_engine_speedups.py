"""The mock engine's shortcuts (see speedups.offline_runtime, the thin SDK packages) change
nothing but speed: each is checked against the stock code it replaces."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest
from google.protobuf import struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi import _types as pulumi_types
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc

from agent_server_infra.plan import document, engine, speedups
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT

SIG, SECRET_SIG = rpc._special_sig_key, rpc._special_secret_sig

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8),
                    st.floats(allow_nan=False, allow_infinity=False, width=32), st.just(rpc.UNKNOWN))


def with_secrets(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
        children.map(lambda value: {SIG: SECRET_SIG, "value": value}),
    )


wire_values = st.recursive(scalars, with_secrets, max_leaves=25)
def json_like(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)), max_leaves=25)


json_values = json_like(st.one_of(st.none(), st.booleans(), st.integers(), st.text()))
json_numbers = json_like(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))


def norm(value: Any) -> Any:
    """A comparable form: unknown values (which compare by identity) become a token, types are kept."""
    if isinstance(value, pulumi.output.Unknown):
        return "<unknown>"
    if isinstance(value, dict):
        return ("dict", [(key, norm(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [norm(item) for item in value])
    return (type(value).__name__, value)


def struct_of(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), wire_values, max_size=5), st.sampled_from([None, False, True]))
def test_deserialize_properties_matches_the_sdk(values: dict[str, Any], keep_unknowns: bool | None) -> None:
    struct = struct_of(values)
    expected = speedups._stock_deserialize_properties(struct, keep_unknowns)
    assert norm(speedups._deserialize_properties(struct, keep_unknowns)) == norm(expected)
    for field in struct.values():
        assert norm(speedups._deserialize_property(field, keep_unknowns)) == norm(
            rpc.deserialize_property(field, keep_unknowns))


@settings(max_examples=200, deadline=None)
@given(wire_values)
def test_contains_unknowns_matches_the_sdk(value: Any) -> None:
    def with_unknowns(item: Any) -> Any:
        if item == rpc.UNKNOWN:
            return pulumi.output.Unknown()
        if isinstance(item, dict):
            return {key: with_unknowns(child) for key, child in item.items()}
        if isinstance(item, list):
            return [with_unknowns(child) for child in item]
        return item

    converted = with_unknowns(value)
    assert speedups._contains_unknowns(converted) == rpc.contains_unknowns(converted)


@settings(max_examples=100, deadline=None)
@given(wire_values)
def test_serialize_property_matches_the_sdk(value: Any) -> None:
    async def both() -> tuple[Any, Any]:
        return (await speedups._serialize_property(value, [], "key"),
                await speedups._stock_serialize_property(value, [], "key"))

    ours, stock = asyncio.new_event_loop().run_until_complete(both())
    assert norm(ours) == norm(stock)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_dumps_writes_what_json_dumps_writes(value: dict[str, Any]) -> None:
    """Byte for byte, integers of any size included (beyond 64 bits the standard library writes them)."""
    assert document.dumps(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_numbers, max_size=5))
def test_dumps_keeps_every_number(value: dict[str, Any]) -> None:
    """Floats may be spelt differently (``1e-05`` or ``0.00001``) but read back as the same numbers."""
    assert json.loads(document.dumps(value)) == value


def test_offline_runtime_restores_the_sdk() -> None:
    def sdk() -> tuple[Any, ...]:
        return (rpc.deserialize_properties, rpc.serialize_property, rpc.contains_unknowns, rpc.transfer_properties,
                rpc.translate_output_properties,
                pulumi_resource._get_stack_trace, pulumi_resource.create_urn, pulumi_types.resource_types,
                pulumi_types.unwrap_type, pulumi.Output._track, pulumi.log.debug,
                vars(sys.modules["pulumi.resource"])["collapse_alias_to_urn"],
                type(cast(Any, pulumi.runtime.settings.SETTINGS).outputs))

    stock = sdk()
    was_enabled = gc.isenabled()
    engine.run(lambda: None)
    assert sdk() == stock
    assert stock[-1] is set
    assert gc.isenabled() == was_enabled


def test_thin_sdk_packages_hand_out_the_sdk_classes() -> None:
    import pulumi_aws as aws
    import pulumi_kubernetes as k8s

    speedups.thin_sdk_packages()
    from pulumi_aws.ec2.security_group import SecurityGroup
    from pulumi_kubernetes.core.v1.Namespace import Namespace

    assert aws.ec2.SecurityGroup is SecurityGroup
    assert k8s.core.v1.Namespace is Namespace, "the class, not the module of the same name"
    assert aws.rds.ParameterGroupParameterArgs.__module__ == "pulumi_aws.rds._inputs"
    assert isinstance(aws.ec2.Vpc, type)
    with pytest.raises(AttributeError):
        getattr(aws.ec2, "NoSuchResource")  # noqa: B009 - a name pyright would reject


def test_a_plan_loads_only_the_sdk_modules_it_uses() -> None:
    unused = ("pulumi_aws.ec2.vpc", "pulumi_aws.ec2.instance", "pulumi_kubernetes.core.v1.Pod")
    probe = ("import sys; from agent_server_infra.plan.stack import plan_stack; plan_stack('dev');"
             f"print(sorted(m for m in {unused!r} if m in sys.modules),"
             " 'pulumi_aws.ec2.security_group' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[] True"


def test_plan_json_is_identical_across_processes(tmp_path: Path) -> None:
    """Generated ConfigMap/Secret names hash their data: a map decoded from the wire has no stable order across
    processes, so the hash must not depend on it (base and head of a PR are planned by different processes)."""
    command = str(Path(sys.executable).with_name("agent-server-infra"))
    outputs = []
    for index in range(2):
        path = tmp_path / f"plan-{index}.json"
        subprocess.run([command, "plan", "prod", "--quiet", "--json", str(path)], cwd=ROOT, check=True)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_registration_order_is_deterministic_and_follows_the_program(planned: Callable[[str], Recording]) -> None:
    """Monitor calls run inline, so registrations happen in the order the program's coroutines reach them:
    the same every run, parents first, components in program order (no thread pool reorders them)."""
    first = planned("prod")
    second = plan_stack(str(ROOT / "stacks" / "Pulumi.prod.yaml"))
    assert [r.urn for r in first.resources] == [r.urn for r in second.resources]
    position = {r.urn: index for index, r in enumerate(first.resources)}
    for resource in first.resources:
        if resource.parent in position:
            assert position[resource.parent] < position[resource.urn], resource.name
    components = [r.name for r in first.resources if r.type.startswith("agent-server-infra:index:")]
    assert components == ["agent-server-prod", "agent-server-prod-postgres", "agent-server-prod-redis",
                          "agent-server-prod-workload"]


def test_recorded_inputs_and_outputs_mark_secrets(planned: Callable[[str], Recording]) -> None:
    password = planned("prod").one("random:index/randomPassword:RandomPassword", "agent-server-prod-postgres-password")
    assert isinstance(password.outputs["result"], engine.Secret)
    assert rpc.is_rpc_secret(password.wire_outputs["result"])
    db = planned("prod").one("aws:rds/instance:Instance")
    assert isinstance(db.inputs["password"], engine.Secret)
    assert db.inputs["password"].value == password.outputs["result"].value
