"""Shared test data: raw stack configs, the AgentServer args of one, and modified copies of the shipped stack files."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

if TYPE_CHECKING:
    from agent_server_infra import AgentServerArgs

ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = ROOT.parent / "shared" / "reference" / "agent-server-environment-variables.txt"
REFERENCE = ROOT / "tests" / "data" / "agent-server-environment-variables.txt"
"""A copy of the seed reference, so the suite also runs where ../shared is absent (GitHub). A test keeps it equal
to the original wherever the original is present."""
STACKS = ("dev", "staging", "prod", "cluster")

NETWORK: dict[str, Any] = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
    "clientSecurityGroupIds": ["sg-0123456789abcdef3"],
}


def full_raw(model: str = "standalone") -> dict[str, Any]:
    """A raw stack config that sets every seed variable (telemetry, mongo, checkpoint delete, ...)."""
    server: dict[str, Any] = {
        "deploymentModel": model,
        "serverVersion": "0.16.7",
        "bgJobIsolatedLoops": True,
        "bgJobMaxRetries": 5,
        "bgJobShutdownGracePeriodSecs": 240,
        "bgJobTimeoutSecs": 3600,
        "corsAllowOrigins": ["https://app.example.com", "http://localhost:3000"],
        "datadog": {"enabled": True, "site": "datadoghq.eu", "env": "test", "service": "agents"},
        "postgresPoolMaxSize": 40,
        "checkpointDelete": {"enabled": True, "batchSize": 10},
        "checkpointerBackend": "default",
        "langsmithEndpoint": "https://langsmith.example.com",
        "langsmithTracing": False,
        "logColor": False,
        "logLevel": "WARNING",
        "logJson": True,
        "mountPrefix": "/agents",
        "nJobsPerWorker": 5,
        "otel": {"enabled": True, "endpoint": "https://otlp.example.com",
                 "tracesEndpoint": "https://otlp.example.com/v1/traces", "serviceName": "agents"},
        "redisKeyPrefix": "team-a:",
        "redisDatabase": 3,
        "redisMaxConnections": 300,
        "resumableStreamTtlSeconds": 600,
        "api": {"replicas": 1, "maxReplicas": 2},
        "queue": {"replicas": 1, "maxReplicas": 2},
    }
    if model == "standalone":
        server["image"] = "registry.example.com/agents:1.2.3"
        server["metrics"] = {"enabled": True, "port": 9100}
    return {
        "network": NETWORK,
        "postgres": {"instanceClass": "db.r6g.large"},
        "redis": {"mode": "single", "replicas": 1},
        "server": server,
        "langsmithApiKey": "lsv2_pt_0123",
        "licenseKey": "lic-0123",
        "datadogApiKey": "dd-0123",
        "mongodbUri": "mongodb://user:pw@mongo.example.com:27017/agents?replicaSet=rs0",
        "otelHeaders": "api-key=0123",
    }


def server_args(raw: dict[str, Any], **server: Any) -> AgentServerArgs:
    """The AgentServer args of a raw stack config with ``server`` changes (stack-config keys)."""
    from agent_server_infra.inputs import args_from_config  # here: the rest of this module needs no Pulumi

    changed = copy.deepcopy(raw)
    changed["server"].update(server)
    return cast("AgentServerArgs", args_from_config(changed))


class Replace(dict[str, Any]):
    """A config section that replaces the shipped one instead of being merged into it."""


PlanDocument = Callable[..., dict[str, Any]]
"""The ``plan_document`` fixture (``tests/conftest.py``)."""
Changes = dict[str, Any]
"""Per config key (``postgres``, ``server``, ...; a key of another namespace in full, ``shared-redis:teams``): the
values to set in that section of the shipped stack file
(a value of ``None`` removes the key), a :class:`Replace` for a whole new section, or a plain value (a secret's
``{"secure": ...}``)."""

def write_modified_stack(directory: Path, stack: str, changes: Changes, name: str | None = None,
                         source: Path | None = None) -> Path:
    """A copy of ``stacks/Pulumi.<stack>.yaml`` (or of the stack file ``source``) with ``changes`` applied, written
    into ``directory`` as the stack ``name`` (default: ``stack``)."""
    document = yaml.safe_load((source or ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config = document["config"]
    for key, values in changes.items():
        full = key if ":" in key else f"agent-server:{key}"
        if isinstance(values, Replace) or not isinstance(values, dict) or "secure" in values:
            config[full] = dict(values) if isinstance(values, dict) else values
            continue
        section = config.setdefault(full, {})
        for key_name, value in values.items():
            if value is None:
                section.pop(key_name, None)
            else:
                section[key_name] = dict(value) if isinstance(value, Replace) else value
    path = directory / f"Pulumi.{name or stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path
