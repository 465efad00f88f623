"""Store outages and rollouts under the mock engine: the wait-for-stores init container, the opt-in
``net.ipv4.tcp_retries2`` sysctl and the attempts a run needs to outlast a queue rollout, as the components emit
them (the behaviour itself is proven on the real server in ``tests/integration/test_outages.py`` and
``test_rollout_retries.py``)."""

from __future__ import annotations

import copy
from typing import Any, cast

import pulumi
import pytest

from agent_server_infra import AgentServer, ConfigError
from agent_server_infra.config import STUCK_RUNS_QUERY
from agent_server_infra.plan import engine
from agent_server_infra.settings import ServerSettings
from agent_server_infra.stuck_runs import AFTER_SECONDS as STUCK_AFTER
from agent_server_infra.stuck_runs import QUERY as STUCK_QUERY
from agent_server_infra.stuck_runs import SCRIPT as STUCK_RUNS_SCRIPT
from agent_server_infra.validate import validate_stack
from agent_server_infra.wait_for_stores import SCRIPT, WAIT_SECONDS
from agent_server_infra.workload import Workload
from tests.components import k8s_validate
from tests.components.test_workload import (
    DEPLOYMENT,
    PASSWORD,
    ROLES,
    SECRETS,
    TOKEN,
    container,
    pod_spec,
    render,
    run,
    server_config,
)
from tests.helpers import full_raw, server_args


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
    def program() -> None:
        agent = AgentServer("agents", server_args(raw, **server))
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
    args = server_args(raw, queue={"replicas": 3, "maxReplicas": 12}, bgJobMaxRetries=3)
    def program() -> None:
        AgentServer("agents", args)

    with pytest.raises(ConfigError) as caught:
        engine.run(program, recording=recording)
    assert "agent-server:server.bgJobMaxRetries: agents: cannot survive one queue rollout" in caught.value.report()
    assert not [resource for resource in recording.resources if resource.name != "agents"]


CRONJOB = "kubernetes:batch/v1:CronJob"


def test_no_stuck_runs_check_unless_asked() -> None:
    rec, _ = run(server_config())
    assert not rec.by_type(CRONJOB)


def test_the_stuck_runs_check_is_a_cronjob_on_the_servers_secret() -> None:
    rec, rendered = run(server_config(stuck_runs={"afterSeconds": 900, "schedule": "*/10 * * * *"}))
    [cronjob] = rec.by_type(CRONJOB)
    spec = cronjob.inputs["spec"]
    assert spec["schedule"] == "*/10 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # the next schedule is the retry; a failed Job is the signal
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [check] = pod["containers"]
    assert check["command"] == ["python", "-c", STUCK_RUNS_SCRIPT]
    assert check["env"] == [{"name": STUCK_AFTER, "value": "900"}, {"name": STUCK_QUERY, "value": STUCK_RUNS_QUERY}]
    [source] = check["envFrom"]
    [deployment_secret] = [item for item in container(rec, "queue")["envFrom"] if "secretRef" in item]
    assert source == deployment_secret  # the server's own Secret: DATABASE_URI
    assert "DATABASE_URI" in rendered["queue"].secret
    assert check["securityContext"] == container(rec, "queue")["securityContext"]
    # Its pods carry the instance labels the egress NetworkPolicy selects (DNS and the stores' ports).
    labels = job["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "srv"
    assert labels["app.kubernetes.io/component"] == "stuck-runs"
    [queue] = [r for r in rec.by_type(DEPLOYMENT) if r.name == "srv-queue"]
    assert queue.urn in cronjob.dependencies  # first run on a migrated database
    k8s_validate.validate(cronjob)


def test_a_long_name_keeps_the_cronjob_within_52_characters() -> None:
    # The CronJob controller names each Job <cronjob>-<timestamp>: the API refuses CronJob names above 52.
    server = server_config(stuck_runs={})
    rendered = render(server)

    def program() -> None:
        Workload("a" * 70, {"server": cast(ServerSettings, server.model_dump(exclude_unset=True)),
                            "env": {role: rendered[role].plain for role in ROLES},
                            "secret_env": pulumi.Output.secret(rendered["queue"].secret)})

    [cronjob] = engine.run(program).by_type(CRONJOB)
    name = cronjob.inputs["metadata"]["name"]
    assert len(name) == 52
    assert name.startswith("a" * 20)


@pytest.mark.parametrize(("stuck", "message"), [
    ({"afterSeconds": 30}, "server.stuckRuns.afterSeconds: must be ≥ 60"),
    ({"schedule": "every 5 minutes"}, "server.stuckRuns.schedule: must match"),
    ({"query": "DELETE FROM run"}, "server.stuckRuns.query: must be one SELECT statement"),
])
def test_bad_stuck_runs_settings_are_refused(raw: dict[str, Any], stuck: dict[str, Any], message: str) -> None:
    changed = copy.deepcopy(raw)
    changed["server"]["stuckRuns"] = stuck
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert f"agent-server:{message}" in caught.value.report()


def test_the_stuck_runs_check_cannot_log_in_with_iam_authentication() -> None:
    raw = copy.deepcopy(validate_stack_raw_with_iam())
    raw["server"]["stuckRuns"] = {}
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw)
    assert "agent-server:server.stuckRuns: cannot be used with postgres.iamAuthentication" in caught.value.report()


def validate_stack_raw_with_iam() -> dict[str, Any]:
    raw = copy.deepcopy(full_raw())
    raw["server"].update(serverVersion="0.12.12", serviceAccountRoleArn="arn:aws:iam::123456789012:role/agents",
                         bgJobIsolatedLoops=False)
    raw["postgres"] = {**raw["postgres"], "iamAuthentication": True}
    validate_stack(raw)  # valid without the check
    return raw
