"""Two Agent Servers sharing one Redis: a program of your own that imports agent-server-infra.

The base config (network, postgres, redis, server) is read from the usual `agent-server:` keys; the teams come
from `shared-redis:teams`, each with its own key prefix and namespace. Each team gets its own RDS instance; the
Redis is created once and handed to every server, which registers its prefix and connection claim on it: a
colliding prefix or an overfull Redis fails the program before anything is created.
"""

import pulumi

from agent_server_infra.agent_server import AgentServer
from agent_server_infra.loaders import load_pulumi_config
from agent_server_infra.redis import Redis
from agent_server_infra.validate import validate_stack

raw = load_pulumi_config()
base = validate_stack(raw, "base config").config
redis = Redis("shared", {"config": base.redis, "network": base.network})

for team in pulumi.Config("shared-redis").require_object("teams"):
    name = team["name"]
    server_config = {**raw["server"], "redisKeyPrefix": team["prefix"], "namespace": f"agents-{name}"}
    others = [claim.user for claim in redis.claims]
    team_stack = validate_stack({**raw, "server": server_config}, f"team {name}", redis_others=others, name=name)
    server = AgentServer(name, {"config": team_stack.config, "redis": redis})
    pulumi.export(f"{name}Url", server.url)
    pulumi.export(f"{name}Budget", server.budget)

pulumi.export("redisEndpoint", redis.endpoint)
