"""``server.extraSecretEnv``: secret variables of the user's own (``LANGGRAPH_AES_KEY``) go into the server's
Secret and nowhere else: not a ConfigMap, not the plan, not the diff. In a stack file they are the top-level
secret map ``agent-server:extraSecretEnv`` (one secure value per variable), never a key of ``server``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import pulumi
import pytest

from agent_server_infra import AgentServer, AgentServerArgs
from agent_server_infra.errors import ConfigError
from agent_server_infra.inputs import args_from_config
from agent_server_infra.loaders import load_stack_file, raw_from_mapping
from agent_server_infra.plan import engine
from agent_server_infra.plan.diff import diff_documents
from agent_server_infra.plan.diff_markdown import diff_markdown
from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.helpers import ROOT, write_modified_stack

AES = "LANGGRAPH_AES_KEY"
VALUE = "aes-key-0123456789abcdef0123456789"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECURE = {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB="}


def program_with(raw: dict[str, Any], secret_env: dict[str, Any]) -> engine.Recording:
    def program() -> None:
        args = args_from_config(raw)
        args["server"]["extra_secret_env"] = secret_env
        server = AgentServer("agents", cast(AgentServerArgs, args))
        pulumi.export("names", server.secret_env_names)

    return engine.run(program)


def test_a_secret_variable_goes_to_the_secret_only(raw: dict[str, Any]) -> None:
    recording = program_with(raw, {AES: VALUE})
    [secret] = [r for r in recording.by_type(SECRET) if AES in (r.plain_inputs.get("stringData") or {})]
    assert secret.plain_inputs["stringData"][AES] == VALUE
    assert isinstance(secret.inputs["stringData"], engine.Secret), "the whole Secret's data is a Pulumi secret"
    # Auto-named and immutable: a changed value replaces it under a new name, which rolls the pods.
    assert secret.inputs["immutable"] is True
    assert "name" not in secret.inputs["metadata"]
    for config_map in recording.by_type(CONFIG_MAP):
        assert AES not in (config_map.plain_inputs.get("data") or {})
        assert VALUE not in json.dumps(config_map.plain_inputs)
    secret_name = secret.outputs["metadata"]["name"]
    for deployment in recording.by_type(DEPLOYMENT):
        [container] = deployment.plain_inputs["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": secret_name}} in container["envFrom"]
    assert AES in recording.outputs["names"]


def test_an_output_value_works_and_stays_secret(raw: dict[str, Any]) -> None:
    recording = program_with(raw, {AES: pulumi.Output.from_input(VALUE)})
    [secret] = [r for r in recording.by_type(SECRET) if AES in (r.plain_inputs.get("stringData") or {})]
    assert secret.plain_inputs["stringData"][AES] == VALUE
    assert isinstance(secret.inputs["stringData"], engine.Secret)


def test_the_plan_shows_the_name_and_never_the_value(raw: dict[str, Any]) -> None:
    document = dumps(to_document(program_with(raw, {AES: VALUE})))
    assert VALUE not in document
    [deployment] = json.loads(document)["deployments"]
    assert deployment["secretEnv"][AES] == "[secret]"
    assert AES not in deployment["env"]["api"]
    assert AES not in deployment["env"]["queue"]


def test_a_changed_value_is_a_change_the_diff_names_without_its_value(raw: dict[str, Any]) -> None:
    before = json.loads(dumps(to_document(program_with(raw, {AES: VALUE}))))
    after = json.loads(dumps(to_document(program_with(raw, {AES: VALUE + "-rotated"}))))
    diff = diff_documents(before, after)
    assert [(change.name, change.secret) for change in diff.env if change.name == AES]
    markdown = diff_markdown(diff)
    assert AES in markdown
    assert VALUE not in markdown


@pytest.mark.parametrize(("secret_env", "extra_env", "expected"), [
    ({"DATABASE_URI": "x"}, {}, "server.extraSecretEnv.DATABASE_URI: DATABASE_URI is managed by this library"),
    ({AES: "x"}, {AES: "y"}, f"server.extraSecretEnv.{AES}: {AES} is also in server.extraEnv"),
    ({"1BAD": "x"}, {}, "server.extraSecretEnv.1BAD"),
])
def test_names_follow_the_rules_of_extra_env(raw: dict[str, Any], secret_env: dict[str, str],
                                             extra_env: dict[str, str], expected: str) -> None:
    changed = copy.deepcopy(raw)
    changed["server"].update(extraEnv=extra_env)
    changed["extraSecretEnv"] = secret_env
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert expected in caught.value.report()


# --- stack files ---------------------------------------------------------------------------------------------


def test_a_stack_file_gives_them_as_a_top_level_map_of_secure_values(tmp_path: Path) -> None:
    path = write_modified_stack(tmp_path, "dev", {"extraSecretEnv": {AES: SECURE}})
    raw, _ = load_stack_file(path)
    assert raw["extraSecretEnv"] == {AES: f"[secret:extraSecretEnv.{AES}]"}
    assert AES in validate_stack(raw).config.server.extra_secret_env
    recording = plan_stack(str(path), program=ROOT / "__main__.py")
    [secret] = [r for r in recording.by_type(SECRET) if AES in (r.plain_inputs.get("stringData") or {})]
    assert isinstance(secret.inputs["stringData"], engine.Secret)
    assert all(AES not in (c.plain_inputs.get("data") or {}) for c in recording.by_type(CONFIG_MAP))


@pytest.mark.parametrize(("config", "expected"), [
    ({"agent-server:extraSecretEnv": {AES: "plain-text"}}, f"agent-server:extraSecretEnv.{AES}: is a secret"),
    ({"agent-server:extraSecretEnv": SECURE}, "agent-server:extraSecretEnv: must be a map of variable names"),
    ({"agent-server:server": {"extraSecretEnv": {AES: "plain-text"}}},
     "agent-server:server.extraSecretEnv: secret variables go in the top-level secret map"),
])
def test_a_stack_file_never_holds_them_in_plain_text(config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        raw_from_mapping(config, "Pulumi.dev.yaml")
    assert expected in caught.value.report()
    assert "plain-text" not in caught.value.report()
