"""agent-server-infra: Pulumi components for the LangGraph Agent Server on AWS and Kubernetes.

``from agent_server_infra import AgentServer, Postgres, Redis, Workload`` (and their ``*Args``, the settings
TypedDicts and ``ConfigError``). The components load the Pulumi SDKs on first use, so the deciding modules
(``config``, ``sizing``, ``env``, ...) import without them.
"""

from typing import TYPE_CHECKING, Any

from .errors import ConfigError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .agent_server import AgentServer, AgentServerArgs
    from .postgres import Postgres, PostgresArgs, PostgresShare
    from .redis import Redis, RedisArgs, RedisShare
    from .settings import (
        CheckpointDeleteSettings,
        DatadogSettings,
        IngressSettings,
        NetworkSettings,
        OtelSettings,
        PostgresSettings,
        RedisSettings,
        ScaleSettings,
        ServerSettings,
    )
    from .workload import Workload, WorkloadArgs

_LAZY = {
    "AgentServer": "agent_server", "AgentServerArgs": "agent_server",
    "Postgres": "postgres", "PostgresArgs": "postgres", "PostgresShare": "postgres",
    "Redis": "redis", "RedisArgs": "redis", "RedisShare": "redis",
    "Workload": "workload", "WorkloadArgs": "workload",
    **dict.fromkeys(("CheckpointDeleteSettings", "DatadogSettings", "IngressSettings", "NetworkSettings",
                     "OtelSettings", "PostgresSettings", "RedisSettings", "ScaleSettings", "ServerSettings"),
                    "settings"),
}

__all__ = [
    "AgentServer", "AgentServerArgs", "CheckpointDeleteSettings", "ConfigError", "DatadogSettings", "IngressSettings",
    "NetworkSettings", "OtelSettings", "Postgres", "PostgresArgs", "PostgresSettings", "PostgresShare", "Redis",
    "RedisArgs", "RedisSettings", "RedisShare", "ScaleSettings", "ServerSettings", "Workload", "WorkloadArgs",
]
assert sorted({*_LAZY, "ConfigError"}) == __all__


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agent_server_infra' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
