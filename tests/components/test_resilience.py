"""Store outages and rollouts under the mock engine: the wait-for-stores init container, the opt-in
``net.ipv4.tcp_retries2`` sysctl and the attempts a run needs to outlast a queue rollout, as the components emit
them (the behaviour itself is proven on the real server in ``tests/integration/test_outages.py`` and
``test_rollout_retries.py``)."""

from __future__ import annotations

import copy
from typing import Any, cast

import pulumi
import pytest

from agent_server_infra import AgentServer, AgentServerArgs, ConfigError
from agent_server_infra.inputs import args_from_config
from agent_server_infra.plan import engine
from agent_server_infra.validate import validate_stack
from agent_server_infra.wait_for_stores import SCRIPT, WAIT_SECONDS
from tests.components import k8s_validate
from tests.components.test_workload import (
    DEPLOYMENT,
    PASSWORD,
    ROLES,
    SECRETS,
    TOKEN,
    container,
    pod_spec,
    run,
    server_config,
)


def init_containers(rec: engine.Recording, role: str) -> list[dict[str, Any]]:
    return list(pod_spec(rec, role).get("initContainers") or [])


def test_both_roles_wait_for_the_stores_before_the_server_starts() -> None:
    rec, _ = run(server_config())
    for role in ROLES:
        [wait] = init_containers(rec, role)
        server = container(rec, role)
        assert wait["name"] == "wait-for-stores"
        assert wait["image"] == server["image"] == "r.example.com/a:1"  # no image of its own to pull or trust
        assert wait["command"] == ["python", "-c", SCRIPT]
        # The URIs come from the same Secret (and ConfigMap) the server reads; only the bound is its own.
        assert wait["envFrom"] == server["envFrom"]
        assert wait["env"] == [{"name": WAIT_SECONDS, "value": "180"}]
        assert wait["volumeMounts"] == server["volumeMounts"]
        assert wait["securityContext"] == server["securityContext"] == {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]}}
        assert wait["resources"]["limits"]["memory"]
        assert "ports" not in wait
        assert "livenessProbe" not in wait


def test_no_secret_reaches_the_init_containers_arguments() -> None:
    rec, rendered = run(server_config())
    uris = [rendered["queue"].secret[name] for name in ("DATABASE_URI", "REDIS_URI")]
    for role in ROLES:
        [wait] = init_containers(rec, role)
        arguments = " ".join([*wait["command"], *(item.get("value", "") for item in wait["env"])])
        for secret in (PASSWORD, TOKEN, *uris, SECRETS.license_key.get_secret_value() if SECRETS.license_key else ""):
            assert secret
            assert secret not in arguments
        # The script reads the URIs by the names the env table gives them.
        assert 'os.environ["DATABASE_URI"]' in SCRIPT
        assert 'os.environ["REDIS_URI"]' in SCRIPT


def test_pods_set_no_sysctl_unless_asked() -> None:
    rec, _ = run(server_config())
    for role in ROLES:
        assert "sysctls" not in pod_spec(rec, role)["securityContext"]


def test_tcp_retries2_is_an_opt_in_pod_sysctl_on_both_roles() -> None:
    rec, _ = run(server_config(tcp_retries2=8))
    for role in ROLES:
        assert pod_spec(rec, role)["securityContext"]["sysctls"] == [{"name": "net.ipv4.tcp_retries2", "value": "8"}]
        k8s_validate.validate(rec.one(DEPLOYMENT, f"srv-{role}"))


@pytest.mark.parametrize(("value", "message"), [(7, "must be ≥ 8"), (16, "must be ≤ 15")])
def test_tcp_retries2_outside_rfc_1122_and_the_kernel_default_is_refused(raw: dict[str, Any], value: int,
                                                                        message: str) -> None:
    changed = copy.deepcopy(raw)
    changed["server"]["tcpRetries2"] = value
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert f"agent-server:server.tcpRetries2: {message} (got {value})" in caught.value.report()


def test_tcp_retries2_is_refused_for_a_control_plane_deployment(raw: dict[str, Any]) -> None:
    changed = copy.deepcopy(raw)
    changed["server"] = {"deploymentModel": "control-plane", "tcpRetries2": 8}
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert "agent-server:server.tcpRetries2: only applies when server.deploymentModel is standalone" in \
        caught.value.report()


def _agent_server(raw: dict[str, Any], **server: Any) -> engine.Recording:
    changed = copy.deepcopy(raw)
    changed["server"].update(server)

    def program() -> None:
        agent = AgentServer("agents", cast(AgentServerArgs, args_from_config(changed)))
        pulumi.export("budget", agent.budget)
        pulumi.export("plain_env", agent.plain_env)

    return engine.run(program)


def test_the_agent_servers_budget_shows_the_attempts_a_rollout_needs(raw: dict[str, Any]) -> None:
    rec = _agent_server(raw, queue={"replicas": 3, "maxReplicas": 12})
    retries = rec.outputs["budget"]["retries"]
    assert (retries["used"], retries["usable"]) == (5, 5)  # ⌈12 / 3⌉ = 4 waves, then the 5th attempt
    assert retries["inputs"]["rollout_waves"] == 4
    assert {env["BG_JOB_MAX_RETRIES"] for env in rec.outputs["plain_env"].values()} == {"5"}


def test_an_agent_server_refuses_too_few_attempts_before_any_resource(raw: dict[str, Any]) -> None:
    recording = engine.Recording(project="p", stack="s")
    changed = copy.deepcopy(raw)
    changed["server"].update(queue={"replicas": 3, "maxReplicas": 12}, bgJobMaxRetries=3)
    args = cast(AgentServerArgs, args_from_config(changed))
    def program() -> None:
        AgentServer("agents", args)

    with pytest.raises(ConfigError) as caught:
        engine.run(program, recording=recording)
    assert "agent-server:server.bgJobMaxRetries: agents: cannot survive one queue rollout" in caught.value.report()
    assert not [resource for resource in recording.resources if resource.name != "agents"]
