"""The components as a multi-language package: the schema Pulumi's SDK infers, and construction through the
component provider with the camelCase inputs a YAML or TypeScript program sends."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import pulumi
import pytest
import yaml

from agent_server_infra import AgentServer, AgentServerArgs, ConfigError, Postgres, Redis, Workload
from agent_server_infra.config import SECTIONS
from agent_server_infra.inputs import args_from_config
from agent_server_infra.loaders import load_stack_file
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import Recording
from agent_server_infra.provider import PACKAGE, component_provider, schema, schema_text
from tests.helpers import ROOT

TOKEN = f"{PACKAGE}:index:"
YAML_EXAMPLE = ROOT / "examples" / "yaml"


@pytest.fixture(scope="module")
def package() -> dict[str, Any]:
    return schema()


def _type(package: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    return package["types"][ref.removeprefix("#/types/")]


def test_the_checked_in_schema_is_the_inferred_one() -> None:
    assert (ROOT / "schema.json").read_text() == schema_text()


def test_components_and_their_settings_are_in_the_schema(package: dict[str, Any]) -> None:
    assert set(package["resources"]) == {f"{TOKEN}{name}" for name in ("AgentServer", "Postgres", "Redis",
                                                                        "Workload")}
    for resource in package["resources"].values():
        assert resource["isComponent"] is True
    server = package["resources"][f"{TOKEN}AgentServer"]["inputProperties"]
    assert set(server) == {"network", "postgres", "redis", "server", "licenseKey", "langsmithApiKey",
                           "datadogApiKey", "mongodbUri", "postgresUri", "redisUri", "otelHeaders",
                           "existingPostgres", "existingRedis", "alarms", "naming", "tags"}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_each_section_type_is_the_stack_configs_shape(package: dict[str, Any], section: str) -> None:
    """The schema's words are the stack config's: a YAML program's properties read like a stack file."""
    model = SECTIONS[section]
    server = package["resources"][f"{TOKEN}AgentServer"]["inputProperties"]
    properties = _type(package, server[section]["$ref"])["properties"]
    assert set(properties) == {str(info.alias) for info in model.model_fields.values()}


def test_choices_keep_the_type_of_their_values(package: dict[str, Any]) -> None:
    """``Literal[0, 1, 5, ...]`` is an integer in the schema (a TypeScript or YAML program sends a number), a
    ``Literal["cpu", "backlog"]`` a string."""
    def prop(section: str, key: str, *nested: str) -> Mapping[str, Any]:
        server = package["resources"][f"{TOKEN}AgentServer"]["inputProperties"]
        properties = _type(package, server[section]["$ref"])["properties"]
        for name in nested:
            properties = _type(package, properties[name]["$ref"])["properties"]
        return properties[key]

    assert prop("postgres", "monitoringIntervalSeconds")["type"] == "integer"
    assert prop("alarms", "periodSeconds")["type"] == "integer"
    assert prop("server", "autoscaling", "queue")["type"] == "string"
    assert prop("postgres", "mode")["type"] == "string"


def test_values_from_other_infrastructure_are_inputs_and_structure_is_plain(package: dict[str, Any]) -> None:
    network = _type(package, f"#/types/{TOKEN}NetworkSettings")["properties"]
    assert "plain" not in network["vpcId"]
    assert "plain" not in network["subnetIds"], "the whole list may be an Output (a VPC's private subnets)"
    assert network["clientSecurityGroupIds"]["plain"] is True, "one rule per group: the list decides resources"
    assert "plain" not in network["clientSecurityGroupIds"]["items"]
    server = _type(package, f"#/types/{TOKEN}ServerSettings")["properties"]
    assert "plain" not in server["image"]
    assert "plain" not in server["serviceAccountRoleArn"]
    assert server["nJobsPerWorker"]["plain"] is True
    assert server["postgresPoolMaxSize"]["plain"] is True
    scale = _type(package, f"#/types/{TOKEN}ScaleSettings")["properties"]
    assert scale["maxReplicas"]["plain"] is True
    inputs = package["resources"][f"{TOKEN}AgentServer"]["inputProperties"]
    assert "plain" not in inputs["licenseKey"]
    assert "plain" not in inputs["existingRedis"], "a share output is passed as it is"


# --- construction through the provider ------------------------------------------------------------------------


def _camel(model_args: Any) -> Any:
    """Args (snake_case) as a YAML program would write them: every key camelCase, map keys of extraEnv kept."""
    if isinstance(model_args, Mapping):
        return {("".join(part.capitalize() if index else part for index, part in enumerate(key.split("_")))
                 if re.fullmatch(r"[a-z][a-z0-9_]*", key) else key): _camel(value)
                for key, value in model_args.items()}
    if isinstance(model_args, list):
        return [_camel(item) for item in model_args]
    return model_args


def _shape(recording: Recording) -> list[tuple[str, str, str]]:
    """Every resource as (type, name, inputs), secrets shown, in a stable order."""
    return sorted((r.type, r.name, json.dumps(r.plain_inputs, sort_keys=True, default=str))
                  for r in recording.resources)


def _through_provider(name: str, component: str, inputs: Mapping[str, Any]) -> Recording:
    provider = component_provider()
    return engine.run(lambda: provider.construct(name, f"{TOKEN}{component}", dict(inputs),
                                                 pulumi.ResourceOptions()) and None)


@pytest.mark.parametrize("stack", ["dev", "prod", "cluster"])
def test_an_agent_server_from_camel_case_inputs_is_the_python_one(stack: str) -> None:
    raw, _ = load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    raw = {**raw, **{key: f"secret-{key}" for key, value in raw.items() if str(value).startswith("[secret:")}}
    args = args_from_config(raw)
    python = engine.run(lambda: AgentServer(f"agent-server-{stack}", cast(AgentServerArgs, args)) and None)
    camel = _camel(args)
    provided = _through_provider(f"agent-server-{stack}", "AgentServer", camel)
    assert len(python.resources) >= 25
    assert _shape(provided) == _shape(python)


def _store_cases() -> dict[str, tuple[Callable[[], Any], str, dict[str, Any]]]:
    network = {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": ["subnet-0123456789abcdef1",
                                                                   "subnet-0123456789abcdef2"],
               "client_cidrs": ["10.20.0.0/16"]}
    postgres = {"network": network, "postgres": {"instance_class": "db.r6g.large", "multi_az": True}}
    redis = {"network": network, "redis": {"mode": "cluster", "shards": 2, "replicas_per_shard": 1}}
    workload = {"server": {"image": "registry.example.com/a:1", "namespace": "agents",
                           "api": {"replicas": 2, "max_replicas": 4}},
                "env": {"api": {"LOG_LEVEL": "INFO"}, "queue": {"LOG_LEVEL": "INFO"}},
                "secret_env": {"DATABASE_URI": "postgresql://a:b@h:5432/d?sslmode=require"}}
    return {
        "Postgres": (lambda: Postgres("db", cast(Any, postgres)), "db", postgres),
        "Redis": (lambda: Redis("cache", cast(Any, redis)), "cache", redis),
        "Workload": (lambda: Workload("srv", cast(Any, workload)), "srv", workload),
    }


@pytest.mark.parametrize("component", ["Postgres", "Redis", "Workload"])
def test_each_store_and_the_workload_from_camel_case_inputs_is_the_python_one(component: str) -> None:
    build, name, args = _store_cases()[component]
    python = engine.run(lambda: build() and None)
    camel = _camel(args)
    if component == "Workload":  # environment variable names are map keys, never camelCased
        camel["env"], camel["secretEnv"] = args["env"], args["secret_env"]
    assert _shape(_through_provider(name, component, camel)) == _shape(python)


def test_an_output_where_a_plain_value_is_required_is_a_config_error() -> None:
    """In other languages the generated SDK types these properties plain; in Python a ConfigError names each."""
    args: dict[str, Any] = args_from_config({
        "network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef1",
                                                                   "subnet-0123456789abcdef2"]},
        "server": {"image": "registry.example.com/a:1", "api": {"replicas": 1}}})
    args["network"]["client_security_group_ids"] = pulumi.Output.from_input(["sg-0123456789abcdef3"])
    args["server"]["n_jobs_per_worker"] = pulumi.Output.from_input(4)
    args["server"]["api"]["max_replicas"] = pulumi.Output.from_input(3)
    recording = engine.Recording(project="p", stack="s")
    with pytest.raises(ConfigError) as caught:
        engine.run(lambda: AgentServer("late", cast(AgentServerArgs, args)) and None, recording=recording)
    report = caught.value.report()
    for path in ("network.clientSecurityGroupIds", "server.nJobsPerWorker", "server.api.maxReplicas"):
        assert f"agent-server:{path}: must be known when the component is constructed (got an Output)" in report
    assert recording.resources == [], "nothing is registered"


# --- the YAML example -------------------------------------------------------------------------------------------


def _check_properties(package: Mapping[str, Any], properties: Mapping[str, Any], declared: Mapping[str, Any],
                      path: str) -> list[str]:
    problems: list[str] = []
    for key, value in properties.items():
        spec = declared.get(key)
        if spec is None:
            problems.append(f"{path}.{key}: not in the schema (known: {', '.join(sorted(declared))})")
            continue
        if "$ref" in spec and isinstance(value, Mapping) and spec["$ref"].startswith("#/types/"):
            problems += _check_properties(package, value, _type(package, spec["$ref"])["properties"],
                                          f"{path}.{key}")
    return problems


def test_the_yaml_example_uses_only_schema_words(package: dict[str, Any]) -> None:
    program = yaml.safe_load((YAML_EXAMPLE / "Pulumi.yaml").read_text())
    ours = {name: resource for name, resource in program["resources"].items()
            if str(resource["type"]).startswith(PACKAGE)}
    assert {resource["type"] for resource in ours.values()} >= {f"{TOKEN}AgentServer", f"{TOKEN}Redis"}
    problems: list[str] = []
    for name, resource in ours.items():
        declared = package["resources"][resource["type"]]["inputProperties"]
        problems += _check_properties(package, resource.get("properties") or {}, declared, name)
    assert not problems, "\n".join(problems)
    outputs = " ".join(str(value) for value in (program.get("outputs") or {}).values())
    for reference in re.findall(r"\$\{(\w+)\.(\w+)\}", outputs):
        resource = ours.get(reference[0])
        if resource is not None:
            assert reference[1] in package["resources"][resource["type"]]["properties"], reference
