"""The mock engine's shortcuts (``speedups.offline_runtime``) against the SDK as shipped (``stock_sdk=True``):
whole plans, and the shortcuts one by one on the inputs that reach them."""

from __future__ import annotations

import asyncio
import enum
import gc
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pulumi.runtime import rpc

from agent_server_infra.plan import engine, speedups
from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT, STACKS
from tests.plan.test_engine_speedups import norm

PROGRAMS = (*STACKS, "examples/shared-redis/Pulumi.dev.yaml", "fleet")
"""What the equivalence tests plan: the shipped stacks, the shared-redis example and a 3-server fleet."""


def fleet_stack(directory: Path, servers: int) -> Path:
    """The benchmark's fleet project (N AgentServers on one shared Redis), with ``servers`` servers."""
    spec = importlib.util.spec_from_file_location("plan_speed", ROOT / "benchmarks" / "plan_speed.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_fleet_project(directory, sizes=(servers,))[servers]


def stack_file(program: str, directory: Path) -> str:
    """The stack file (or shipped stack name) to plan for one of :data:`PROGRAMS`."""
    if program == "fleet":
        return str(fleet_stack(directory, 3))
    return str(ROOT / program) if program.startswith("examples/") else program


def plan_text(stack: str, stock_sdk: bool) -> str:
    return dumps(to_document(plan_stack(stack, stock_sdk=stock_sdk), show_secrets=True))


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_plan_is_the_same_with_the_stock_sdk(program: str, tmp_path: Path) -> None:
    """Every input, secret, dependency, protect flag, registered output and stack output, byte for byte."""
    path = stack_file(program, tmp_path)
    assert plan_text(path, stock_sdk=False) == plan_text(path, stock_sdk=True)


def run_stock(program: Callable[[], None]) -> Recording:
    return engine.run(program, stock_sdk=True)


class Colour(enum.StrEnum):
    RED = "red"


def test_serialize_property_of_args_classes_matches_the_sdk() -> None:
    """Typed inputs as the components pass them: args classes with outputs (plain, secret, unknown) deep
    inside, dicts keyed in Python names under an args type, string maps, tuples, enums and ``None`` fields,
    serialized with a key translator."""
    results: dict[str, Any] = {}

    def unknown() -> pulumi.Output[Any]:
        async def value() -> Any:
            return None

        async def no() -> bool:
            return False

        return pulumi.Output(set(), value(), no())

    def cases() -> dict[str, tuple[Any, Any]]:
        name = pulumi.Output.from_input("cm-1234")
        container = k8s.core.v1.ContainerArgs(
            name="api", image="registry.example.com/agents:1.2.3", command=("/storage/queue_entrypoint.sh",),
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=8000, protocol="TCP")],
            env_from=[
                k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=name)),
                k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(
                    name=pulumi.Output.secret("secret-5678"))),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "1", "memory": unknown()}),
            liveness_probe=None,
        )
        return {
            "container": (container, k8s.core.v1.ContainerArgs),
            "python-keyed dict under an args type": (
                {"container_port": 8000, "name": pulumi.Output.from_input("http"), "hostIP": None},
                k8s.core.v1.ContainerPortArgs),
            "string map": ({"a": pulumi.Output.from_input("x"), "b": "y"}, dict[str, str]),
            "map of args types": ({"http": {"container_port": 8000}}, dict[str, k8s.core.v1.ContainerPortArgs]),
            "untyped nested": ({"list": [1, (2.5, "three"), {"deep": name}], "enum": Colour.RED}, None),
            "spec": (k8s.apps.v1.DeploymentSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "x"}),
                template=k8s.core.v1.PodTemplateSpecArgs(spec=k8s.core.v1.PodSpecArgs(containers=[container])),
            ), k8s.apps.v1.DeploymentSpecArgs),
        }

    async def compare() -> None:
        for label, (value, typ) in cases().items():
            deps_ours: list[Any] = []
            deps_stock: list[Any] = []
            # A key translator as a resource without type metadata passes one: untyped dicts use it, typed
            # ones must not.
            ours = await speedups._serialize_property(value, deps_ours, "spec", None, str.upper, typ)
            stock = await speedups._stock_serialize_property(value, deps_stock, "spec", None, str.upper, typ)
            results[label] = (norm(ours), norm(stock), deps_ours == deps_stock)

    def program() -> None:
        pulumi.export("compared", pulumi.Output.from_input(asyncio.ensure_future(compare())))

    run_stock(program)
    assert len(results) == 6
    for label, (ours, stock, same_deps) in results.items():
        assert ours == stock, label
        assert same_deps, label
    assert "<unknown>" not in str(results["container"][1]), "an unknown inside an input is sent as the sentinel"


def test_serialize_property_raises_where_the_sdk_raises() -> None:
    errors: list[tuple[str, str]] = []

    async def compare() -> None:
        for serialize in (speedups._serialize_property, speedups._stock_serialize_property):
            try:
                await serialize(["a", "b"], [], "ports", None, None, k8s.core.v1.ContainerPortArgs)
            except AssertionError as exc:
                errors.append((type(exc).__name__, str(exc)))

    run_stock(lambda: pulumi.export("compared", pulumi.Output.from_input(asyncio.ensure_future(compare()))))
    assert len(errors) == 2
    assert errors[0] == errors[1]


def test_collapse_alias_to_urn_matches_the_sdk() -> None:
    aliases = {
        "older type": pulumi.Alias(type_="kubernetes:apps/v1beta1:Deployment"),
        "older name": pulumi.Alias(name="old-name"),
        "no parent": pulumi.Alias(parent=None),
        "root stack": pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE),
        "other project and stack": pulumi.Alias(type_="t:m:T", project="elsewhere", stack="other"),
        "parent urn": pulumi.Alias(parent="urn:pulumi:dev::proj::my:index:Parent::p"),
        "urn string": "urn:pulumi:dev::proj::t:m:T::literal",
        "output name": pulumi.Alias(name=cast(Any, pulumi.Output.from_input("from-output"))),
    }

    def program() -> None:
        parent = pulumi.ComponentResource("my:index:Parent", "parent")
        for label, alias in aliases.items():
            for index, collapse in enumerate((speedups._collapse_alias_to_urn,
                                              speedups._stock_collapse_alias_to_urn)):
                pulumi.export(f"{label}/{index}", collapse(alias, "child", "my:index:Child", parent))

    outputs = run_stock(program).outputs
    assert len(outputs) == 2 * len(aliases)
    for label in aliases:
        assert outputs[f"{label}/0"] == outputs[f"{label}/1"], label
    assert outputs["older type/0"] == (
        "urn:pulumi:dev::agent-server::pulumi:pulumi:Stack$my:index:Parent$kubernetes:apps/v1beta1:Deployment::child")


@pytest.mark.parametrize("stock_sdk", [False, True])
def test_a_failing_apply_fails_the_run_even_when_nothing_awaits_it(stock_sdk: bool) -> None:
    def program() -> None:
        pulumi.Output.from_input(1).apply(lambda value: value / 0)

    with pytest.raises(ZeroDivisionError):
        engine.run(program, stock_sdk=stock_sdk)


@pytest.mark.parametrize("stock_sdk", [False, True])
def test_resources_registered_late_by_an_apply_are_recorded(stock_sdk: bool) -> None:
    """Nothing awaits the apply: the run still waits for it (the SDK's tracked outputs) and its resource."""
    def program() -> None:
        pulumi.Output.from_input("late").apply(lambda name: k8s.core.v1.ConfigMap(name, data={"k": "v"}))

    recording = engine.run(program, stock_sdk=stock_sdk)
    assert [resource.name for resource in recording.resources] == ["late"]


@pytest.mark.parametrize("stock_sdk", [False, True])
def test_a_failed_registration_fails_the_outputs_that_read_it(stock_sdk: bool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    stock_new_resource = engine.RecordingMocks.new_resource

    def new_resource(self: engine.RecordingMocks, args: Any) -> Any:
        if args.name == "broken":
            raise RuntimeError("provider refused broken")
        return stock_new_resource(self, args)

    monkeypatch.setattr(engine.RecordingMocks, "new_resource", new_resource)

    def program() -> None:
        config_map = k8s.core.v1.ConfigMap("broken", data={"k": "v"})
        pulumi.export("data", config_map.data)

    with pytest.raises(Exception, match="provider refused broken"):
        engine.run(program, stock_sdk=stock_sdk)
    # The failed outputs nobody awaited are reported by asyncio when collected: here, inside the test's capture.
    settings: Any = pulumi.runtime.settings.SETTINGS
    settings.outputs.clear()
    settings.rpc_manager.clear()
    gc.collect()


def shape(value: Any) -> Any:
    """A comparable form of translated outputs: output-type objects as their class and properties."""
    if isinstance(value, dict):
        return ("dict", type(value).__name__, sorted((str(key), shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("list", [shape(item) for item in value])
    if pulumi._types.is_output_type(type(value)):
        return ("output type", type(value).__qualname__, shape(dict(vars(value))))
    return (type(value).__name__, value)


@pytest.mark.parametrize("program", PROGRAMS)
def test_translate_output_properties_matches_the_sdk_on_every_registration(
        program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each translation of a plan (every output property of every registration, nested values included) is
    computed both ways and compared; the plan then goes on with the stock result."""
    compared: list[bool] = []

    def both(output: Any, transformer: Callable[[str], str], typ: Any = None, by_metadata: bool = False,
             path: Any = None, none_on_mismatch: bool = False) -> Any:
        ours = speedups._translate(output, transformer, typ, by_metadata, none_on_mismatch)
        stock = speedups._stock_translate_output_properties(output, transformer, typ, by_metadata, path,
                                                            none_on_mismatch)
        compared.append(shape(ours) == shape(stock))
        return stock

    monkeypatch.setattr(speedups, "_translate_output_properties", both)
    plan_stack(stack_file(program, tmp_path))
    assert len(compared) > 100
    assert all(compared), f"{compared.count(False)} of {len(compared)} translations differ"


@pytest.mark.parametrize(("output", "typ"), [
    ({"name": "x"}, str),
    ([1, 2], str),
    ({"containerPort": "not a number", "name": 3}, k8s.core.v1.outputs.ContainerPort),
])
@pytest.mark.parametrize("none_on_mismatch", [False, True])
def test_translate_output_properties_fails_as_the_sdk_fails(output: Any, typ: Any, none_on_mismatch: bool) -> None:
    """A value of the wrong shape: the same result, or the same error naming the same property."""
    def outcome(translate: Callable[..., Any]) -> Any:
        try:
            return ("value", shape(translate(output, lambda key: key, typ, True,
                                             rpc._Path("spec", resource="web"), none_on_mismatch)))
        except Exception as exc:
            return ("error", type(exc).__name__, str(exc))

    assert outcome(speedups._translate_output_properties) == outcome(speedups._stock_translate_output_properties)


class Tier(enum.StrEnum):
    GOLD = "gold"


@pytest.mark.parametrize(("output", "typ", "by_metadata"), [
    ({"someKey": 1.0, "other": 2.5}, dict[str, int], True),
    ({"someKey": 1.0}, dict[str, int], False),
    ({"someKey": {"nested": "x"}}, None, False),
    ({"tier": "gold", "counts": [1.0, 2.0]}, dict[str, Any], True),
    ("gold", Tier, True),
    ([{"containerPort": 8000.0, "name": "http"}], list[k8s.core.v1.outputs.ContainerPort], True),
    ({rpc._special_sig_key: rpc._special_secret_sig, "value": {"a": 1.0}}, dict[str, int], True),
])
def test_translate_output_properties_matches_the_sdk_on_its_branches(output: Any, typ: Any,
                                                                     by_metadata: bool) -> None:
    """Key translation with and without type metadata, ints from wire floats, enums, secrets, output types."""
    def translate(function: Callable[..., Any]) -> Any:
        return shape(function(output, str.upper, typ, by_metadata))

    assert translate(speedups._translate_output_properties) == translate(speedups._stock_translate_output_properties)


def test_an_unverified_sdk_version_runs_the_stock_sdk_with_the_same_plan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The shortcuts are verified for a recorded range of SDK versions; outside it, plan says so once and runs
    the SDK as shipped, with byte-identical output."""
    from agent_server_infra import cli

    monkeypatch.delenv(speedups.SHORTCUTS_ENV, raising=False)
    monkeypatch.chdir(ROOT)
    assert speedups.use_shortcuts(), "the locked SDK is a verified one"
    verified = tmp_path / "verified.json"
    assert cli.main(["plan", "prod", "--quiet", "--show-secrets", "--json", str(verified)]) == 0
    capsys.readouterr()

    monkeypatch.setattr(speedups, "sdk_version", lambda: (3, 999, 0))
    monkeypatch.setattr(speedups, "_NOTICE", [])
    calls: list[bool] = []
    real_offline = speedups.offline_runtime
    monkeypatch.setattr(engine, "offline_runtime", lambda: calls.append(True) or real_offline())
    gated = [tmp_path / "gated-1.json", tmp_path / "gated-2.json"]
    for path in gated:
        assert cli.main(["plan", "prod", "--quiet", "--show-secrets", "--json", str(path)]) == 0
    notices = capsys.readouterr().err.count("pulumi 3.999.0 is outside the SDK versions")
    assert notices == 1, "said once per process"
    assert calls == [], "no shortcut ran"
    for path in gated:
        assert path.read_bytes() == verified.read_bytes()
    monkeypatch.setenv(speedups.SHORTCUTS_ENV, "1")
    assert speedups.use_shortcuts(), "forced on, to verify a new SDK version"
