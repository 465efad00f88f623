"""BG_JOB_MAX_RETRIES outlasts a queue rollout: derived when unset, an explicit value that cannot survive one refused.

The expected numbers are worked out here by hand from the rules (the server counts attempts; a rolling update with
``maxSurge`` S and ``maxUnavailable: 0`` replaces N pods in ⌈N / S⌉ waves, each of which may SIGTERM the pod running
a run; a backlog-scaled queue may lose one more pod to its scale-down), not read back from the code.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent_server_infra import sizing
from agent_server_infra.config import ServerConfig
from agent_server_infra.docs import env_reference
from agent_server_infra.env import PostgresFacts, RedisFacts, render_env
from agent_server_infra.errors import ConfigError
from agent_server_infra.validate import validate_stack
from tests.helpers import full_raw


def _server(queue: dict[str, Any], **values: Any) -> ServerConfig:
    return ServerConfig.model_validate({"image": "registry.example.com/agents:1", "queue": queue, **values})


def full_raw_secrets() -> Any:
    return validate_stack(full_raw()).config.secrets


# (queue ceiling, maxSurge, waves): a quarter of the ceiling rounded up, at least one, and ⌈ceiling / surge⌉ waves
WAVES = [(1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), (5, 2, 3), (8, 2, 4), (9, 3, 3), (12, 3, 4), (13, 4, 4),
         (100, 25, 4)]


@pytest.mark.parametrize(("ceiling", "surge", "waves"), WAVES)
def test_a_rollout_replaces_the_queue_in_ceiling_over_surge_waves(ceiling: int, surge: int, waves: int) -> None:
    assert sizing.surge(ceiling) == surge
    assert sizing.rollout_waves(ceiling) == waves


@pytest.mark.parametrize(("queue", "attempts"), [
    ({"replicas": 1}, 3),  # 1 wave: 2 attempts needed, the seed's 3 stays
    ({"replicas": 1, "maxReplicas": 2}, 3),  # 2 waves: exactly the seed's 3
    ({"replicas": 1, "maxReplicas": 3}, 4),  # 3 waves: one more than the seed
    ({"replicas": 2, "maxReplicas": 4}, 5),  # staging: 4 waves of 1
    ({"replicas": 3, "maxReplicas": 12}, 5),  # cluster: 4 waves of 3
    ({"replicas": 3, "maxReplicas": 12, "autoscaling": "backlog"}, 6),  # prod: 4 waves + the backlog scale-down
])
def test_the_derived_value_covers_one_rollout(queue: dict[str, Any], attempts: int) -> None:
    server = _server(queue)
    assert server.bg_job_max_retries is None
    assert sizing.bg_job_max_retries(server) == attempts
    rendered = render_env(server, full_raw_secrets(), PostgresFacts(), RedisFacts(), pool_max_size=10,
                          redis_max_connections=10, role="queue")
    assert rendered.plain["BG_JOB_MAX_RETRIES"] == str(attempts)


def test_the_budget_shows_the_derivation() -> None:
    budget = sizing.retry_budget(_server({"replicas": 3, "maxReplicas": 12, "autoscaling": "backlog"}))
    assert budget is not None
    assert (budget.used, budget.usable, budget.per_replica) == (6, 6, 6)
    assert "⌈12 queue pods / surge 3⌉ = 4 rollout waves + 1 backlog scale-down needs 6 attempts" in budget.formula
    assert budget.inputs["derived"] is True


def test_an_explicit_value_that_survives_a_rollout_is_kept() -> None:
    server = _server({"replicas": 3, "maxReplicas": 12}, bgJobMaxRetries=9)
    assert sizing.bg_job_max_retries(server) == 9
    budget = sizing.retry_budget(server)
    assert budget is not None
    assert budget.inputs["derived"] is False


def test_an_explicit_value_below_one_rollout_is_refused_with_the_numbers() -> None:
    # 4 waves interrupt a run 4 times: attempt 5 must still be allowed; the seed's 3 (or 4) is not enough.
    for value in (0, 3, 4):
        with pytest.raises(sizing.SizingError) as caught:
            sizing.retry_budget(_server({"replicas": 3, "maxReplicas": 12}, bgJobMaxRetries=value))
        assert caught.value.path == "server.bgJobMaxRetries"
        assert f"needs 5 attempts > BG_JOB_MAX_RETRIES {value}" in caught.value.message
        assert "⌈12 queue pods / surge 3⌉ = 4 rollout waves" in caught.value.message
        assert "set it ≥ 5" in caught.value.message
    sizing.retry_budget(_server({"replicas": 3, "maxReplicas": 12}, bgJobMaxRetries=5))


def test_the_stack_error_names_the_config_path() -> None:
    raw = copy.deepcopy(full_raw())
    raw["server"]["queue"] = {"replicas": 2, "maxReplicas": 8}
    raw["server"]["bgJobMaxRetries"] = 3
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw, "stacks/Pulumi.test.yaml")
    report = caught.value.report()
    assert "stacks/Pulumi.test.yaml: agent-server:server.bgJobMaxRetries: cannot survive one queue rollout" in report
    assert "needs 5 attempts > BG_JOB_MAX_RETRIES 3" in report


def test_a_control_plane_deployment_keeps_the_seed() -> None:
    # LangSmith's control plane rolls that queue, not this library: no derivation, no refusal.
    server = _server({"replicas": 3, "maxReplicas": 12}, deploymentModel="control-plane")
    assert sizing.retry_budget(server) is None
    assert sizing.bg_job_max_retries(server) == 3
    assert sizing.bg_job_max_retries(_server({"replicas": 1}, deploymentModel="control-plane", bgJobMaxRetries=1)) == 1


def test_the_env_reference_says_what_no_setting_fixes() -> None:
    """Store errors mid-run are not retried, the checkpoint pool's back-off sets the recovery time, and a dead host
    stalls a process for the kernel's retransmission timeout (924.6 s at tcp_retries2 15; 102.2 s at 8)."""
    reference = env_reference()
    rows = [line for line in reference.splitlines() if line.startswith("| `DATABASE_URI`")]
    assert any("No setting makes a store error mid-run retried" in row and "`REDIS_URI`" in row for row in rows)
    assert any("reconnect back-off" in row and "PoolTimeout" in row and "30 s" in row for row in rows)
    assert any("924.6 s" in row and "102.2 s at 8" in row and "server.tcpRetries2" in row for row in rows)
