"""The agent-server stack program: stack config → AgentServer args → stack outputs.

`pulumi up -s dev` runs this with the engine's config; `agent-server-infra plan dev` runs it offline under the
package's mock engine with the stack file's config. Invalid config fails here, before any resource exists.
"""

from typing import cast

import pulumi

from agent_server_infra import AgentServer, AgentServerArgs
from agent_server_infra.inputs import args_from_config
from agent_server_infra.loaders import load_pulumi_config
from agent_server_infra.validate import validate_stack

stack = pulumi.get_stack()
raw = load_pulumi_config()
for warning in validate_stack(raw, f"stack {stack}").warnings:
    pulumi.log.warn(warning.render(f"stack {stack}"))

args = cast(AgentServerArgs, {**args_from_config(raw), "tags": {"pulumi-stack": stack}})
# `agent-server:naming.name` pins the name every URN and physical name derives from, so a renamed stack keeps them.
server = AgentServer((raw.get("naming") or {}).get("name") or f"agent-server-{stack}", args)

pulumi.export("budget", server.budget)
pulumi.export("plainEnv", server.plain_env)
if server.postgres is not None:
    pulumi.export("postgresAddress", server.postgres.address)
if server.redis is not None:
    pulumi.export("redisEndpoint", server.redis.endpoint)
if server.service_name is not None:
    pulumi.export("serviceName", server.service_name)
    pulumi.export("url", server.url)
if server.env_bundle is not None:
    pulumi.export("envBundle", server.env_bundle)
