"""ElastiCache IAM authentication: a user group (its disabled default user and the server's IAM user) instead of
the AUTH token, a passwordless ``rediss://user@host`` URI with AGENT_REDIS_IAM_AUTH_PROVIDER=aws on both roles,
elasticache:Connect on the server's IRSA role, and the rules (langgraph-api ≥ 0.13, Redis ≥ 7.0 / Valkey ≥ 7.2,
an IRSA role, managed Redis only, standalone only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pulumi
import pytest

from agent_server_infra import AgentServer, Redis
from agent_server_infra.config import NetworkConfig
from agent_server_infra.env import RedisFacts, redis_uri
from agent_server_infra.errors import ConfigError
from agent_server_infra.inputs import settings_of
from agent_server_infra.plan import engine
from agent_server_infra.plan.engine import RecordedResource, Recording, reveal
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.redis import RedisShare
from agent_server_infra.settings import ServerSettings
from agent_server_infra.validate import validate_stack
from tests.helpers import NETWORK, write_modified_stack

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
USER = "aws:elasticache/user:User"
USER_GROUP = "aws:elasticache/userGroup:UserGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PASSWORD = "random:index/randomPassword:RandomPassword"
IAM = {"redis": {"iamAuthentication": True}, "server": {"serverVersion": "0.16.7"}}


@pytest.fixture(scope="module")
def staging_iam(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return plan_stack(str(write_modified_stack(tmp_path_factory.mktemp("redis-iam"), "staging", IAM)))


def _server_env(recording: Recording) -> dict[str, str]:
    [secret] = [s for s in recording.by_type(SECRET) if "REDIS_URI" in (reveal(s.inputs.get("stringData")) or {})]
    return dict(reveal(secret.inputs["stringData"]))


def _users(recording: Recording) -> dict[str, RecordedResource]:
    return {user.plain_inputs["userName"]: user for user in recording.by_type(USER)}


def test_the_group_uses_a_user_group_and_no_auth_token(staging_iam: Recording) -> None:
    group = staging_iam.one(GROUP).plain_inputs
    user_group = staging_iam.one(USER_GROUP).plain_inputs
    assert group["userGroupIds"] == [user_group["userGroupId"]]
    assert "authToken" not in group
    assert group["authTokenUpdateStrategy"] == "DELETE", "the strategy that moves a group from its token to RBAC"
    assert group["transitEncryptionEnabled"] is True
    assert group["transitEncryptionMode"] == "required"
    users = _users(staging_iam)
    assert sorted(user_group["userIds"]) == sorted(user.plain_inputs["userId"] for user in users.values())
    assert not [p for p in staging_iam.by_type(PASSWORD) if p.name.endswith("auth-token")], "no AUTH token made"


def test_the_default_user_is_off_and_the_server_user_is_an_iam_user(staging_iam: Recording) -> None:
    users = _users(staging_iam)
    default = users["default"].plain_inputs
    assert default["accessString"] == "off -@all"
    assert default["userId"] != "default", "AWS's own default user (on, no password) never joins our group"
    assert default["authenticationMode"]["type"] == "password"
    [name] = [name for name in users if name != "default"]
    server = users[name].plain_inputs
    assert server["userId"] == server["userName"] == "agent-server-staging-redis-server"
    assert server["authenticationMode"] == {"type": "iam"}
    assert server["accessString"] == "on ~* &* +@all"
    assert server["engine"] == staging_iam.one(GROUP).plain_inputs["engine"]


def test_the_server_connects_as_the_iam_user_without_a_password(staging_iam: Recording) -> None:
    uri = urlsplit(_server_env(staging_iam)["REDIS_URI"])
    group = staging_iam.one(GROUP)
    assert (uri.scheme, uri.username, uri.password) == ("rediss", "agent-server-staging-redis-server", None)
    assert uri.hostname == group.outputs["primaryEndpointAddress"]
    for config_map in staging_iam.by_type(CONFIG_MAP):
        assert config_map.plain_inputs["data"]["AGENT_REDIS_IAM_AUTH_PROVIDER"] == "aws"


def test_the_role_may_connect_to_the_group_as_its_user(staging_iam: Recording) -> None:
    group = staging_iam.one(GROUP)
    [policy] = [p.plain_inputs for p in staging_iam.by_type(ROLE_POLICY) if "redis" in p.plain_inputs["name"]]
    assert policy["role"] == "agents-staging-server"
    _, partition, _, region, account, *_ = group.outputs["arn"].split(":")
    assert json.loads(policy["policy"])["Statement"] == [{
        "Effect": "Allow", "Action": "elasticache:Connect",
        "Resource": [f"arn:{partition}:elasticache:{region}:{account}:replicationgroup:agent-server-staging-redis",
                     f"arn:{partition}:elasticache:{region}:{account}:user:agent-server-staging-redis-server"]}]


def test_without_iam_the_token_stays(planned: Any) -> None:
    recording: Recording = planned("staging")
    group = recording.one(GROUP).plain_inputs
    assert group["authToken"]
    assert group["authTokenUpdateStrategy"] == "ROTATE"
    assert "userGroupIds" not in group
    assert not recording.by_type(USER)
    assert not recording.by_type(USER_GROUP)
    assert urlsplit(_server_env(recording)["REDIS_URI"]).password
    assert "AGENT_REDIS_IAM_AUTH_PROVIDER" not in recording.by_type(CONFIG_MAP)[0].plain_inputs["data"]


def test_an_iam_uri_names_the_user_and_no_token() -> None:
    facts = RedisFacts(host="master.g.cache.amazonaws.com", port=6379, user="agents-server", cluster=True)
    assert redis_uri(facts) == "rediss://agents-server@master.g.cache.amazonaws.com:6379"
    assert redis_uri(RedisFacts(host="h", token="t-1")) == "rediss://:t-1@h:6379/0"


def _errors(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw)
    return caught.value.report()


def _staging(raw: dict[str, Any], redis: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "redis": {**raw.get("redis", {}), **redis}, "server": {**raw["server"], **server}}


ROLE = {"serviceAccountRoleArn": "arn:aws:iam::123456789012:role/agents"}


@pytest.mark.parametrize(("redis", "server", "expected"), [
    ({"engineVersion": "6.2"}, {"serverVersion": "0.16.7", **ROLE},
     "redis.iamAuthentication: ElastiCache IAM authentication needs redis ≥ 7.0 (got engineVersion 6.2)"),
    ({}, {"serverVersion": "0.12.12", **ROLE}, "redis.iamAuthentication: needs langgraph-api ≥ 0.13.0 "
     "(AGENT_REDIS_IAM_AUTH_PROVIDER with the aws provider) but server.serverVersion is 0.12.12"),
    ({}, {"serverVersion": None, **ROLE}, "redis.iamAuthentication: needs langgraph-api ≥ 0.13.0 "
     "(AGENT_REDIS_IAM_AUTH_PROVIDER with the aws provider): set server.serverVersion"),
    ({}, {"serverVersion": "0.16.7"}, "server.serviceAccountRoleArn: redis.iamAuthentication needs the server's "
     "IRSA role"),
    ({"mode": "external", "maxClients": 1000}, {"serverVersion": "0.16.7", **ROLE},
     "redis.iamAuthentication: only applies when redis.mode is cluster or single"),
])
def test_the_rules(raw: dict[str, Any], redis: dict[str, Any], server: dict[str, Any], expected: str) -> None:
    changed = _staging(raw, {"iamAuthentication": True, **redis}, server)
    if redis.get("mode") == "external":
        changed["redisUri"] = "rediss://:token-token-token-1@redis.example.com:6379"
    assert expected in _errors(changed)


def test_a_user_id_only_with_iam_and_valid(raw: dict[str, Any]) -> None:
    assert "redis.iamUserId: only used with redis.iamAuthentication true" in _errors(
        _staging(raw, {"iamUserId": "agents"}, {}))
    assert "redis.iamUserId" in _errors(_staging(raw, {"iamAuthentication": True, "iamUserId": "Agents--x"},
                                                 {"serverVersion": "0.16.7", **ROLE}))


def test_valkey_and_a_supported_server_pass(raw: dict[str, Any]) -> None:
    assert validate_stack(_staging(raw, {"engine": "valkey", "engineVersion": "7.2", "iamAuthentication": True},
                                   {"serverVersion": "0.13.0", **ROLE}))


def test_control_plane_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_stack(str(write_modified_stack(tmp_path, "staging", {
            "redis": {"iamAuthentication": True}, "postgres": {"iamAuthentication": None},
            "server": {"serverVersion": "0.16.7", "deploymentModel": "control-plane", "image": None,
                       "ingress": None, "serviceAccountRoleArn": None, "namespace": None, "networkPolicy": None}})))
    assert "redis.iamAuthentication: needs server.deploymentModel standalone" in caught.value.report()


SERVER: Any = {"image": "registry.example.com/agents:1", "server_version": "0.16.7",
               "service_account_role_arn": "arn:aws:iam::123456789012:role/agents"}
NETWORK_SETTINGS = settings_of(NetworkConfig, NETWORK)


def test_a_shared_iam_redis_grants_each_server_its_connect() -> None:
    def program() -> None:
        redis = Redis("shared", {"network": NETWORK_SETTINGS, "redis": {"iam_authentication": True}})
        for name in ("one", "two"):
            server = AgentServer(name, {
                "network": NETWORK_SETTINGS, "postgres": {}, "redis": {"iam_authentication": True},
                "server": cast(ServerSettings, {**SERVER, "namespace": name, "redis_key_prefix": f"{name}:"}),
                "license_key": "k",
                "existing_redis": redis})
            pulumi.export(name, server.secret_env)

    recording = engine.run(program)
    [user] = [u.plain_inputs["userId"] for u in recording.by_type(USER) if u.plain_inputs["userName"] != "default"]
    for name in ("one", "two"):
        uri = urlsplit(reveal(recording.outputs[name])["REDIS_URI"])
        assert (uri.username, uri.password) == (user, None)
    policies = [p.plain_inputs for p in recording.by_type(ROLE_POLICY) if "redis" in p.plain_inputs["name"]]
    assert sorted(p["name"] for p in policies) == ["one-redis-connect", "two-redis-connect"]
    assert all(user in p["policy"] for p in policies)


def test_a_share_of_an_iam_redis_is_refused() -> None:
    share: RedisShare = {"name": "shared", "endpoint": "h", "port": 6379, "token": "", "tls": True, "cluster": False,
             "max_clients": 65000, "iam_user": "agents-server"}
    with pytest.raises(ConfigError) as caught:
        AgentServer("one", {"network": NETWORK_SETTINGS, "postgres": {}, "redis": {"iam_authentication": True},
                            "server": SERVER, "license_key": "k", "existing_redis": share})
    assert "redis.iamAuthentication: needs the Redis itself" in caught.value.report()
