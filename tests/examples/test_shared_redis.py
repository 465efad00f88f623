"""The examples/shared-redis program under mocks: two servers, one Redis, distinct prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_server_infra.errors import ConfigError
from agent_server_infra.plan.stack import plan_stack
from tests.components import k8s_validate
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "shared-redis"


def test_two_servers_share_one_redis() -> None:
    recording = plan_stack(str(EXAMPLE / "Pulumi.dev.yaml"))
    assert recording.project == "shared-redis"
    assert len(recording.by_type("aws:elasticache/replicationGroup:ReplicationGroup")) == 1
    assert len(recording.by_type("aws:rds/instance:Instance")) == 2
    servers = recording.by_type("agent-server-infra:index:AgentServer")
    prefixes = {s.name: s.registered_outputs["plain_env"]["queue"]["REDIS_KEY_PREFIX"] for s in servers}
    assert prefixes == {"support": "support:", "research": "research:"}
    research = recording.outputs["researchBudget"]["redis"]
    assert research["used"] == recording.outputs["supportBudget"]["redis"]["used"] * 2
    assert research["inputs"]["deployments"] == 2
    namespaces = {r.inputs["metadata"]["name"] for r in recording.by_type("kubernetes:core/v1:Namespace")}
    assert namespaces == {"agents-support", "agents-research"}
    for resource in recording.resources:
        if resource.type.startswith("kubernetes:"):
            assert k8s_validate.validate(resource)


def test_colliding_team_prefixes_are_rejected(tmp_path: Path) -> None:
    document = yaml.safe_load((EXAMPLE / "Pulumi.dev.yaml").read_text())
    document["config"]["shared-redis:teams"][1]["prefix"] = "support:tier2:"
    (tmp_path / "Pulumi.yaml").write_text((EXAMPLE / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((EXAMPLE / "__main__.py").read_text())
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as caught:
        plan_stack(str(stack))
    assert "overlap" in caught.value.report()
