"""The agent-server stack program: validated stack config → AgentServer → stack outputs.

`pulumi up -s dev` runs this with the engine's config; `agent-server-infra plan dev` runs it offline under the
package's mock engine with the stack file's config. Invalid config fails here, before any resource exists.
"""

import pulumi

from agent_server_infra.agent_server import AgentServer
from agent_server_infra.loaders import load_pulumi_config
from agent_server_infra.validate import validate_stack

stack = pulumi.get_stack()
validated = validate_stack(load_pulumi_config(), f"stack {stack}")
for warning in validated.warnings:
    pulumi.log.warn(warning.render(f"stack {stack}"))

server = AgentServer(f"agent-server-{stack}", {"config": validated.config, "tags": {"pulumi-stack": stack}})

pulumi.export("budget", server.budget)
pulumi.export("plainEnv", server.plain_env)
pulumi.export("postgresAddress", server.postgres.address)
pulumi.export("redisEndpoint", server.redis.endpoint)
if server.service_name is not None:
    pulumi.export("serviceName", server.service_name)
    pulumi.export("url", server.url)
if server.env_bundle is not None:
    pulumi.export("envBundle", server.env_bundle)
