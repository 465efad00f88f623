"""AgentServer: shared Redis isolation, summed budgets, checks before any resource, control-plane bundle."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest

from agent_server_infra.agent_server import AgentServer
from agent_server_infra.config import StackConfig
from agent_server_infra.errors import ConfigError
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import Secret
from agent_server_infra.redis import Redis
from agent_server_infra.validate import validate_stack
from tests.helpers import NETWORK


def config(raw: dict[str, Any], **server: Any) -> StackConfig:
    changed = copy.deepcopy(raw)
    changed["server"].update(server)
    return validate_stack(changed).config


def two_servers(raw: dict[str, Any], first: dict[str, Any], second: dict[str, Any],
                redis: dict[str, Any] | None = None) -> engine.Recording:
    raw = {**raw, "redis": redis or raw["redis"]}

    def program() -> None:
        base = config(raw)
        shared = Redis("shared", {"config": base.redis, "network": base.network})
        a = AgentServer("team-a", {"config": config(raw, **first), "redis": shared})
        b = AgentServer("team-b", {"config": config(raw, **second), "redis": shared})
        pulumi.export("a", a.budget)
        pulumi.export("b", b.budget)

    return engine.run(program)


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ({"redisKeyPrefix": "same:"}, {"redisKeyPrefix": "same:"}, "same redisKeyPrefix"),
        ({"redisKeyPrefix": ""}, {"redisKeyPrefix": "b:"}, "empty redisKeyPrefix"),
        ({"redisKeyPrefix": "team:"}, {"redisKeyPrefix": "team:b:"}, "overlap"),
        ({"redisKeyPrefix": "a:b:"}, {"redisKeyPrefix": "a:"}, "overlap"),
    ],
)
def test_colliding_prefixes_are_rejected_before_any_resource(raw: dict[str, Any], first: dict[str, Any],
                                                             second: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        two_servers(raw, first, second)
    assert reason in caught.value.report()
    assert "agent-server:server.redisKeyPrefix: team-b" in caught.value.report()


def test_distinct_prefixes_share_and_sum_the_budget(raw: dict[str, Any]) -> None:
    rec = two_servers(raw, {"redisKeyPrefix": "a:", "redisMaxConnections": 500},
                      {"redisKeyPrefix": "b:", "redisMaxConnections": 300})
    assert len(rec.by_type("aws:elasticache/replicationGroup:ReplicationGroup")) == 1
    assert len(rec.by_type("aws:rds/instance:Instance")) == 2
    # Each has 1+1 api and 1+1 queue pods (ceiling plus surge).
    assert rec.outputs["a"]["redis"]["used"] == 4 * 500
    assert rec.outputs["b"]["redis"]["used"] == 4 * 500 + 4 * 300
    assert rec.outputs["b"]["redis"]["inputs"]["deployments"] == 2
    env_a = rec.one("agent-server-infra:index:AgentServer", "team-a").registered_outputs["plain_env"]
    assert env_a["queue"]["REDIS_KEY_PREFIX"] == "a:"


def test_distinct_databases_isolate_in_single_mode(raw: dict[str, Any]) -> None:
    rec = two_servers(raw, {"redisKeyPrefix": "", "redisDatabase": 1}, {"redisKeyPrefix": "", "redisDatabase": 2})
    b = rec.one("agent-server-infra:index:AgentServer", "team-b").registered_outputs["secret_env"]
    assert isinstance(b, Secret)
    assert b.value["REDIS_URI"].endswith("/2")


def test_distinct_databases_do_not_isolate_in_cluster_mode(raw: dict[str, Any]) -> None:
    cluster = {"mode": "cluster", "shards": 2, "replicasPerShard": 1}
    with pytest.raises(ConfigError) as caught:
        two_servers(raw, {"redisKeyPrefix": "x:"}, {"redisKeyPrefix": "x:"}, redis=cluster)
    assert "same redisKeyPrefix" in caught.value.report()


def test_distinct_databases_do_not_isolate_on_an_external_redis(raw: dict[str, Any]) -> None:
    """An external Redis is used with the database of its URI, so redisDatabase separates nothing there."""
    external = validate_stack({**raw, "redis": {"mode": "external", "maxClients": 10000},
                               "redisUri": "rediss://:tok@cache.internal:6379/0"}).config

    def program() -> None:
        shared = Redis("shared", {"config": external.redis, "secrets": external.secrets})
        AgentServer("team-a", {"config": config(raw, redisKeyPrefix="", redisDatabase=1), "redis": shared})
        AgentServer("team-b", {"config": config(raw, redisKeyPrefix="", redisDatabase=2), "redis": shared})

    with pytest.raises(ConfigError) as caught:
        engine.run(program)
    assert "team-b has the same redisKeyPrefix '' as team-a" in caught.value.report()


def test_a_shared_redis_that_is_full_is_a_config_error(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        two_servers(raw, {"redisKeyPrefix": "a:", "redisMaxConnections": 14000},
                    {"redisKeyPrefix": "b:", "redisMaxConnections": 2000})
    assert "Redis connection budget exceeded" in caught.value.report()


def test_derived_redis_pool_leaves_room_for_the_others(raw: dict[str, Any]) -> None:
    rec = two_servers(raw, {"redisKeyPrefix": "a:", "redisMaxConnections": 14000}, {"redisKeyPrefix": "b:"})
    b = rec.outputs["b"]["redis"]
    assert b["used"] <= b["usable"]
    assert b["inputs"]["team-b.max_connections"] == (58500 - 4 * 14000) // 4


def test_nothing_is_registered_when_the_check_fails(raw: dict[str, Any]) -> None:
    def program() -> None:
        base = config(raw)
        shared = Redis("shared", {"config": base.redis, "network": base.network})
        AgentServer("one", {"config": config(raw, redisKeyPrefix="p:"), "redis": shared})
        AgentServer("two", {"config": config(raw, redisKeyPrefix="p:"), "redis": shared})

    recording = engine.Recording(project="p", stack="s")
    with pytest.raises(ConfigError):
        engine.run(program, recording=recording)
    names = [resource.name for resource in recording.resources]
    assert "one" in names
    assert not [name for name in names if name.startswith("two")]


def test_control_plane_bundle_is_secret_and_uses_custom_names(raw: dict[str, Any]) -> None:
    cp = copy.deepcopy(raw)
    cp["server"] = {"deploymentModel": "control-plane", "serverVersion": "0.11.1", "redisKeyPrefix": "cp:"}

    def program() -> None:
        server = AgentServer("cp", {"config": validate_stack(cp).config})
        assert server.service_name is None
        assert server.env_bundle is not None
        pulumi.export("bundle", server.env_bundle)

    rec = engine.run(program)
    bundle = rec.outputs["bundle"]
    assert isinstance(bundle, Secret)
    assert {"POSTGRES_URI_CUSTOM", "REDIS_URI_CUSTOM", "LANGGRAPH_POSTGRES_POOL_MAX_SIZE", "REDIS_KEY_PREFIX",
            "REDIS_MAX_CONNECTIONS", "N_JOBS_PER_WORKER"} <= set(bundle.value)
    assert bundle.value["N_JOBS_PER_WORKER"] == "10"
    assert not [r for r in rec.resources if r.type.startswith("kubernetes:")]


def test_network_is_shared_with_both_stores(raw: dict[str, Any]) -> None:
    rec = engine.run(lambda: AgentServer("solo", {"config": config(raw)}) and None)
    for group in rec.by_type("aws:ec2/securityGroup:SecurityGroup"):
        assert group.inputs["vpcId"] == NETWORK["vpcId"]
