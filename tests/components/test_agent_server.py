"""AgentServer: shared Redis isolation, summed budgets, checks before any resource, control-plane bundle."""

from __future__ import annotations

import copy
from typing import Any, cast

import pulumi
import pytest

from agent_server_infra import AgentServer, AgentServerArgs, ConfigError, RedisArgs
from agent_server_infra.inputs import args_from_config
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import Secret
from agent_server_infra.redis import Redis
from tests.helpers import NETWORK, server_args


def redis_args(raw: dict[str, Any]) -> RedisArgs:
    args = args_from_config(raw)
    return cast(RedisArgs, {key: args[key] for key in ("network", "redis", "redis_uri") if key in args})


def two_servers(raw: dict[str, Any], first: dict[str, Any], second: dict[str, Any],
                redis: dict[str, Any] | None = None) -> engine.Recording:
    raw = {**raw, "redis": redis or raw["redis"]}

    def program() -> None:
        shared = Redis("shared", redis_args(raw))
        a = AgentServer("team-a", {**server_args(raw, namespace="team-a", **first), "existing_redis": shared})
        b = AgentServer("team-b", {**server_args(raw, namespace="team-b", **second), "existing_redis": shared})
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
    """An external Redis is used with the database of its URI: redisDatabase is refused on a shared one too, so
    only prefixes can separate its servers."""
    external = {**raw, "redis": {"mode": "external", "maxClients": 10000},
                "redisUri": "rediss://:tok@cache.internal:6379/0"}

    def servers(database: int) -> None:
        shared = Redis("shared", redis_args(external))
        AgentServer("team-a", {**server_args(raw, redisKeyPrefix="", namespace="a"), "existing_redis": shared})
        AgentServer("team-b", {**server_args(raw, redisKeyPrefix="", redisDatabase=database, namespace="b"),
                               "existing_redis": shared})

    with pytest.raises(ConfigError) as caught:
        engine.run(lambda: servers(0))
    assert "team-b has the same redisKeyPrefix '' as team-a" in caught.value.report()
    with pytest.raises(ConfigError) as caught:
        engine.run(lambda: servers(2))
    assert "AgentServer team-b: agent-server:server.redisDatabase: put the database in the external redisUri" in \
        caught.value.report()


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
        shared = Redis("shared", redis_args(raw))
        AgentServer("one", {**server_args(raw, redisKeyPrefix="p:", namespace="one"), "existing_redis": shared})
        AgentServer("two", {**server_args(raw, redisKeyPrefix="p:", namespace="two"), "existing_redis": shared})

    recording = engine.Recording(project="p", stack="s")
    with pytest.raises(ConfigError):
        engine.run(program, recording=recording)
    names = [resource.name for resource in recording.resources]
    assert "one" in names
    assert not [name for name in names if name.startswith("two")]


def test_control_plane_bundle_is_secret_and_uses_custom_names(raw: dict[str, Any]) -> None:
    cp = copy.deepcopy(raw)
    cp["server"] = {"deploymentModel": "control-plane", "serverVersion": "0.16.7", "redisKeyPrefix": "cp:"}

    def program() -> None:
        server = AgentServer("cp", cast(AgentServerArgs, args_from_config(cp)))
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
    rec = engine.run(lambda: AgentServer("solo", server_args(raw)) and None)
    for group in rec.by_type("aws:ec2/securityGroup:SecurityGroup"):
        assert group.inputs["vpcId"] == NETWORK["vpcId"]


def test_two_servers_in_one_namespace_are_refused_unless_the_clusters_differ(raw: dict[str, Any]) -> None:
    def same_cluster() -> None:
        shared = Redis("shared", redis_args(raw))
        AgentServer("team-a", {**server_args(raw, redisKeyPrefix="a:"), "existing_redis": shared})
        AgentServer("team-b", {**server_args(raw, redisKeyPrefix="b:"), "existing_redis": shared})

    with pytest.raises(ConfigError) as caught:
        engine.run(same_cluster)
    assert ("AgentServer team-b: agent-server:server.namespace: team-b uses the Kubernetes namespace "
            "'agent-server' of team-a") in caught.value.report()

    def two_clusters() -> None:
        import pulumi_kubernetes as k8s

        shared = Redis("shared", redis_args(raw))
        for team, kubeconfig in (("team-a", "{}"), ("team-b", "{ }")):
            cluster = k8s.Provider(f"{team}-cluster", kubeconfig=kubeconfig)
            AgentServer(team, {**server_args(raw, redisKeyPrefix=f"{team}:"), "existing_redis": shared},
                        pulumi.ResourceOptions(providers={"kubernetes": cluster}))

    recording = engine.run(two_clusters)
    assert len(recording.by_type("kubernetes:core/v1:Namespace")) == 2


def test_a_shared_redis_reports_the_budget_of_every_server_on_it(raw: dict[str, Any]) -> None:
    def program() -> None:
        shared = Redis("shared", redis_args(raw))
        for team in ("a", "b", "c"):
            AgentServer(team, {**server_args(raw, redisKeyPrefix=f"{team}:", namespace=team,
                                             redisMaxConnections=500), "existing_redis": shared})
        pulumi.export("budget", shared.budget())

    budget = engine.run(program).outputs["budget"]
    assert budget["inputs"]["deployments"] == 3
    assert budget["used"] == sum(budget["inputs"][f"{team}.pods"] * 500 for team in ("a", "b", "c"))


def test_a_redis_shared_through_its_share_output_checks_prefixes_when_it_resolves(raw: dict[str, Any]) -> None:
    """What a TypeScript or YAML program does (``existingRedis: redis.share``): the claim is registered when the
    share resolves, on this program's Redis of that name."""

    def program(second_prefix: str) -> None:
        shared = Redis("shared", redis_args(raw))
        AgentServer("team-a", {**server_args(raw, redisKeyPrefix="a:", namespace="a"),
                               "existing_redis": shared.share})
        b = AgentServer("team-b", {**server_args(raw, redisKeyPrefix=second_prefix, namespace="b"),
                                   "existing_redis": shared.share})
        pulumi.export("claims", pulumi.Output.all(b.secret_env).apply(lambda _: [c.name for c in shared.claims]))

    recording = engine.run(lambda: program("b:"))
    assert sorted(engine.reveal(recording.outputs["claims"])) == ["team-a", "team-b"]
    assert not recording.by_type("aws:elasticache/replicationGroup:ReplicationGroup")[1:], "one Redis"
    with pytest.raises(ValueError, match=r"AgentServer team-b: agent-server:server.redisKeyPrefix: team-b "
                                         r"redisKeyPrefix 'a:b:' and team-a's 'a:' overlap"):
        engine.run(lambda: program("a:b:"))
