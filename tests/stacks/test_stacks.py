"""Every shipped stack through __main__.py under mocks: manifests, dependencies, outputs and plan stability."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agent_server_infra import cli
from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.engine import RecordedResource, Recording, Secret
from agent_server_infra.plan.stack import plan_stack
from tests.components import k8s_validate
from tests.helpers import ROOT, STACKS, write_modified_stack

STATEFUL = ("aws:rds/instance:Instance", "aws:elasticache/replicationGroup:ReplicationGroup")


def closure(recording: Recording, resource: RecordedResource) -> set[str]:
    """Every URN ``resource`` depends on, directly or through its dependencies and parents."""
    seen: set[str] = set()
    stack = [*resource.dependencies, *([resource.parent] if resource.parent else [])]
    while stack:
        urn = stack.pop()
        if urn in seen:
            continue
        seen.add(urn)
        try:
            found = recording.by_urn(urn)
        except LookupError:
            continue
        stack.extend(found.dependencies)
    return seen


@pytest.mark.parametrize("stack", STACKS)
def test_stack_runs_and_exports_a_budget(stack: str, planned: Callable[[str], Recording]) -> None:
    recording = planned(stack)
    budget = recording.outputs["budget"]
    for store in ("postgres", "redis"):
        assert budget[store]["used"] <= budget[store]["usable"] <= budget[store]["capacity"]
    assert recording.outputs["url"].startswith("http://")
    assert len(recording.by_type("aws:rds/instance:Instance")) == 1
    assert len(recording.by_type("aws:elasticache/replicationGroup:ReplicationGroup")) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_validates(stack: str, planned: Callable[[str], Recording]) -> None:
    objects = [r for r in planned(stack).resources if r.type.startswith("kubernetes:")]
    assert len(objects) >= 9
    for resource in objects:
        assert k8s_validate.validate(resource)


@pytest.mark.parametrize("stack", STACKS)
def test_no_workload_resource_is_a_dependency_of_a_data_store(stack: str,
                                                              planned: Callable[[str], Recording]) -> None:
    recording = planned(stack)
    workload = {r.urn for r in recording.resources
                if r.type.startswith("kubernetes:") or r.type == "agent-server-infra:index:Workload"}
    stateful = [r for r in recording.resources if r.type in STATEFUL]
    for resource in stateful:
        assert not closure(recording, resource) & workload, resource.name
    rds, cache = stateful
    assert rds.urn not in closure(recording, cache)
    assert cache.urn not in closure(recording, rds)


@pytest.mark.parametrize("stack", ["prod", "cluster"])
def test_protected_stacks_protect_their_stores(stack: str, planned: Callable[[str], Recording]) -> None:
    for resource in planned(stack).resources:
        assert resource.protect is (resource.type in STATEFUL), resource.name


def test_dev_does_not_protect(planned: Callable[[str], Recording]) -> None:
    assert not any(resource.protect for resource in planned("dev").resources)


def test_cluster_stack_renders_cluster_flag_and_configuration_endpoint(planned: Callable[[str], Recording]) -> None:
    recording = planned("cluster")
    assert recording.outputs["redisEndpoint"].startswith("clustercfg.")
    for role in ("api", "queue"):
        assert recording.outputs["plainEnv"][role]["REDIS_CLUSTER"] == "true"


def test_plan_json_is_byte_identical_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert cli.main(["plan", "prod", "--json", str(first), "--quiet"]) == 0
    assert cli.main(["plan", "prod", "--json", str(second), "--quiet"]) == 0
    assert first.read_bytes() == second.read_bytes()
    document = json.loads(first.read_text())
    assert {"resources", "outputs"} <= set(document)
    assert all(set(r) >= {"type", "name", "parent", "inputs", "dependencies"} for r in document["resources"])


def test_plan_masks_secrets_unless_asked(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    password = recording.one("random:index/randomPassword:RandomPassword",
                             "agent-server-prod-postgres-password").outputs["result"]
    assert isinstance(password, Secret)
    masked = dumps(to_document(recording))
    shown = dumps(to_document(recording, show_secrets=True))
    assert password.value not in masked
    assert password.value in shown
    assert '"[secret]"' in masked


def stateful_inputs(recording: Recording) -> dict[str, object]:
    data = to_document(recording, show_secrets=True)
    return {r["urn"]: r["inputs"] for r in data["resources"]
            if r["type"].startswith(("aws:rds", "aws:elasticache"))}


@pytest.mark.parametrize("change", [{"postgresPoolMaxSize": 20}, {"logLevel": "ERROR"}])
def test_pool_size_or_log_level_changes_touch_no_data_store(tmp_path: Path, change: dict[str, object],
                                                            planned: Callable[[str], Recording]) -> None:
    before = planned("dev")
    after = plan_stack(str(write_modified_stack(tmp_path, "dev", {"server": change})))
    assert stateful_inputs(after) == stateful_inputs(before)
    assert after.outputs["plainEnv"] != before.outputs["plainEnv"]


def test_control_plane_model_exports_a_bundle_and_runs_no_workload(tmp_path: Path) -> None:
    path = write_modified_stack(tmp_path, "staging", {"server": {
        "image": None, "ingress": None, "serviceAccountRoleArn": None, "namespace": None,
        "deploymentModel": "control-plane", "networkPolicy": None}, "postgres": {"iamAuthentication": None}})
    recording = plan_stack(str(path))
    assert not [r for r in recording.resources if r.type.startswith("kubernetes:")]
    bundle = recording.outputs["envBundle"]
    assert isinstance(bundle, Secret)
    assert bundle.value["POSTGRES_URI_CUSTOM"].startswith("postgresql://langgraph:")
    assert bundle.value["REDIS_URI_CUSTOM"].startswith("rediss://:")
    assert "DATABASE_URI" not in bundle.value
    assert bundle.value["LANGGRAPH_POSTGRES_POOL_MAX_SIZE"] == str(
        recording.outputs["budget"]["postgres"]["per_replica"])
    assert bundle.value["REDIS_KEY_PREFIX"] == "staging:"


def test_invalid_stack_fails_before_any_resource(tmp_path: Path) -> None:
    path = write_modified_stack(tmp_path, "dev", {"server": {"nJobsPerWorker": 0}})
    assert cli.main(["plan", str(path), "--quiet"]) == 2
