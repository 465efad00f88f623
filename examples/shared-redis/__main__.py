"""Two Agent Servers sharing one Redis: a program of your own that imports agent-server-infra.

The base config (network, postgres, redis, server) is read from the usual `agent-server:` keys; the teams come
from `shared-redis:teams`, each with its own key prefix and namespace. Each team gets its own RDS instance; the
Redis is created once and handed to every server, which registers its prefix and connection claim on it: a
colliding prefix or an overfull Redis fails the program before anything is created.
"""

from typing import cast

import pulumi

from agent_server_infra import AgentServer, AgentServerArgs, Redis
from agent_server_infra.inputs import args_from_config
from agent_server_infra.loaders import load_pulumi_config

args = args_from_config(load_pulumi_config())
redis = Redis("shared", {"network": args["network"], "redis": args["redis"]})

for team in pulumi.Config("shared-redis").require_object("teams"):
    name = team["name"]
    server = AgentServer(name, cast(AgentServerArgs, {
        **args,
        "server": {**args["server"], "redis_key_prefix": team["prefix"], "namespace": f"agents-{name}"},
        "existing_redis": redis,
    }))
    pulumi.export(f"{name}Url", server.url)
    pulumi.export(f"{name}Budget", server.budget)

pulumi.export("redisEndpoint", redis.endpoint)
pulumi.export("redisBudget", pulumi.Output.from_input(redis.budget()))
