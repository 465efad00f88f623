"""The queue scaled on its backlog: KEDA's ScaledObject and TriggerAuthentication in prod, no HPA of our own for
the queue, KEDA's connections in the Postgres budget, and the rules of ``server.queue.autoscaling``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agent_server_infra import keda, sizing
from agent_server_infra.config import PENDING_RUNS_QUERY
from agent_server_infra.errors import ConfigError
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.components import k8s_validate
from tests.helpers import NETWORK, ROOT, Replace, write_modified_stack

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
TRIGGER_AUTHENTICATION = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SECRET = "kubernetes:core/v1:Secret"


def test_prod_scales_the_queue_on_its_backlog(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    queue = recording.one(DEPLOYMENT, "agent-server-prod-workload-queue")
    spec = recording.one(SCALED_OBJECT).plain_inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": queue.plain_inputs["metadata"]["name"]}
    assert "replicas" not in queue.plain_inputs["spec"], "KEDA's HPA owns the queue's replicas"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 12)  # prod's queue replicas / maxReplicas
    [trigger] = spec["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"] == {"query": "SELECT COUNT(*) FROM run WHERE status = 'pending'",
                                   "targetQueryValue": "10", "activationTargetQueryValue": "10"}
    assert spec["pollingInterval"] == 30
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleDown": {"stabilizationWindowSeconds": 300}}
    # Only the API has an HPA of ours: KEDA refuses a ScaledObject whose target another HPA scales.
    assert [hpa.plain_inputs["spec"]["scaleTargetRef"]["name"] for hpa in recording.by_type(HPA)] == [
        "agent-server-prod-workload-api"]


def test_the_trigger_reads_the_uri_from_the_servers_secret(planned: Callable[[str], Recording]) -> None:
    recording = planned("prod")
    authentication = recording.one(TRIGGER_AUTHENTICATION)
    spec = recording.one(SCALED_OBJECT).plain_inputs["spec"]
    assert spec["triggers"][0]["authenticationRef"] == {
        "name": authentication.plain_inputs["metadata"]["name"], "kind": "TriggerAuthentication"}
    secret = recording.one(SECRET)
    [reference] = authentication.plain_inputs["spec"]["secretTargetRef"]
    assert reference["parameter"] == "connection"
    assert reference["name"] == secret.outputs["metadata"]["name"], "the Secret's generated name"
    assert reference["key"] in secret.plain_inputs["stringData"]
    assert reference["key"] == "DATABASE_URI"
    flat = repr(recording.one(SCALED_OBJECT).plain_inputs) + repr(authentication.plain_inputs)
    assert "postgresql://" not in flat, "no credential is a plain value of the KEDA objects"


def test_the_postgres_budget_counts_kedas_connections(planned: Callable[[str], Recording]) -> None:
    budget = planned("prod").outputs["budget"]["postgres"]
    inputs = budget["inputs"]
    assert inputs["keda_scaler_connections"] == sizing.KEDA_SCALER_CONNECTIONS
    pods = (inputs["api_max_replicas"] + inputs["api_surge"]) + (inputs["queue_max_replicas"] + inputs["queue_surge"])
    assert budget["used"] == pods * inputs["pool_max_size"] + sizing.KEDA_SCALER_CONNECTIONS
    assert "KEDA scaler 2" in budget["formula"]
    assert "keda_scaler_connections" not in plan_stack_budget("dev")


def plan_stack_budget(stack: str) -> dict[str, Any]:
    return plan_stack(str(ROOT / "stacks" / f"Pulumi.{stack}.yaml")).outputs["budget"]["postgres"]["inputs"]


def test_polling_cooldown_and_query_follow_the_config(tmp_path: Path) -> None:
    query = "SELECT COUNT(*) FROM run WHERE status = 'pending' AND created_at > now() - interval '1 day'"
    recording = plan_stack(str(write_modified_stack(tmp_path, "dev", {"server": {
        "queue": {"replicas": 1, "maxReplicas": 4, "autoscaling": "backlog",
                  "backlog": {"query": query, "pollingIntervalSeconds": 15, "cooldownSeconds": 120}},
        "nJobsPerWorker": 4}})))
    spec = recording.one(SCALED_OBJECT).plain_inputs["spec"]
    assert spec["triggers"][0]["metadata"] == {"query": query, "targetQueryValue": "4",
                                               "activationTargetQueryValue": "4"}
    assert (spec["pollingInterval"], spec["minReplicaCount"], spec["maxReplicaCount"]) == (15, 1, 4)
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 120}
    for resource in recording.by_type(SCALED_OBJECT) + recording.by_type(TRIGGER_AUTHENTICATION):
        assert k8s_validate.validate(resource) == k8s_validate.KEDA_VERSION


def test_switching_from_cpu_is_one_update(planned: Callable[[str], Recording], tmp_path: Path) -> None:
    """KEDA's HPA takes the name of the queue's CPU HPA and the ScaledObject adopts it, so KEDA's webhook admits
    the ScaledObject while the old HPA (deleted last by Pulumi) still exists."""
    queue = {key: value for key, value in _prod_queue().items() if key != "autoscaling"}
    cpu = plan_stack(str(write_modified_stack(tmp_path, "prod", {"server": {"queue": Replace(queue)}})))
    [old] = [hpa for hpa in cpu.by_type(HPA) if hpa.name.endswith("-queue")]
    scaled = planned("prod").one(SCALED_OBJECT).plain_inputs
    assert scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"] == old.plain_inputs["metadata"]["name"]
    assert scaled["metadata"]["annotations"] == {keda.TRANSFER_HPA_OWNERSHIP: "true"}
    assert scaled["spec"]["scaleTargetRef"]["name"] == old.plain_inputs["spec"]["scaleTargetRef"]["name"]


def _prod_queue() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["agent-server:server"]
                ["queue"])


def test_kedas_schema_refuses_what_keda_would() -> None:
    """The validator can fail: KEDA's CRD types trigger metadata as strings and bounds the replica counts."""
    spec = keda.scaled_object_spec("srv-queue", validate_stack({**_raw(), "server": {
        **_raw()["server"], "queue": {"replicas": 2, "maxReplicas": 5, "autoscaling": "backlog"}}}).config.server.queue,
        keda.BacklogTrigger(PENDING_RUNS_QUERY, 10, 10), "srv-queue-backlog")
    manifest = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                "metadata": {"name": "srv-queue", "namespace": "agents"}, "spec": spec}
    assert k8s_validate.validate_manifest(manifest) == k8s_validate.KEDA_VERSION
    numeric = {**spec, "triggers": [{**spec["triggers"][0], "metadata": {"query": "x", "targetQueryValue": 10}}]}
    with pytest.raises(jsonschema.ValidationError):
        k8s_validate.validate_manifest({**manifest, "spec": numeric})
    with pytest.raises(jsonschema.ValidationError):
        k8s_validate.validate_manifest({**manifest, "spec": {**spec, "minReplicaCount": 6}})
    with pytest.raises(jsonschema.ValidationError):
        k8s_validate.validate_manifest({**manifest, "spec": {**spec, "cooldown": 1}})


def _raw() -> dict[str, Any]:
    return {"network": NETWORK, "server": {"image": "registry.example.com/agents:1.2.3", "serverVersion": "0.16.7"},
            "licenseKey": "lic-0123"}


@pytest.mark.parametrize(("server", "expected"), [
    ({"queue": {"replicas": 0, "maxReplicas": 4, "autoscaling": "backlog"}},
     "server.queue.replicas: must be ≥ 1: a queue scaled to zero loses the tasks"),
    ({"queue": {"replicas": 2, "autoscaling": "backlog"}},
     "server.queue.maxReplicas: autoscaling backlog scales the queue between replicas 2 and maxReplicas"),
    ({"queue": {"replicas": 2, "maxReplicas": 2, "autoscaling": "backlog"}},
     "set maxReplicas above replicas (got 2)"),
    ({"queue": {"replicas": 1, "maxReplicas": 3, "autoscaling": "backlog", "targetCpuPercent": 50}},
     "server.queue.targetCpuPercent: only applies when server.queue.autoscaling is cpu"),
    ({"queue": {"maxReplicas": 3, "backlog": {"pollingIntervalSeconds": 10}}},
     "server.queue.backlog: only applies when server.queue.autoscaling is backlog"),
    ({"queue": {"maxReplicas": 3, "autoscaling": "backlog", "backlog": {"query": "DELETE FROM run"}}},
     "server.queue.backlog.query: must be one SELECT statement"),
    ({"queue": {"maxReplicas": 3, "autoscaling": "backlog", "backlog": {"query": "SELECT 1; DROP TABLE run"}}},
     "server.queue.backlog.query: must be one SELECT statement"),
    ({"api": {"autoscaling": "backlog"}}, "server.api.autoscaling: unknown key"),
])
def test_backlog_scaling_rules(server: dict[str, Any], expected: str) -> None:
    raw = _raw()
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, "server": {**raw["server"], **server}})
    assert expected in caught.value.report()


def test_a_control_plane_scales_its_own_queue() -> None:
    raw = {"postgres": {"mode": "external", "maxConnections": 500}, "redis": {"mode": "external", "maxClients": 1000},
           "server": {"deploymentModel": "control-plane",
                      "queue": {"maxReplicas": 3, "autoscaling": "backlog"}},
           "postgresUri": "postgresql://u:p@db.example.com:5432/agents?sslmode=require",
           "redisUri": "rediss://:t@cache.example.com:6379/0"}
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw)
    assert "server.queue.autoscaling: backlog scaling needs server.deploymentModel standalone" in \
        caught.value.report()


def test_kedas_connections_can_tip_a_full_budget() -> None:
    """A pool that uses every usable connection fits on CPU scaling and fails with KEDA's two more; a derived
    pool leaves room for them."""
    usable = sizing.usable_postgres_connections(100)
    pods = sizing.Pods(api_max=1, queue_max=2)  # 2 + 3 pods with surge
    pool = usable // pods.total
    assert usable - pods.total * pool < sizing.KEDA_SCALER_CONNECTIONS, "the pool leaves no room for KEDA"
    common: dict[str, Any] = {"max_connections": 100, "pods": pods, "n_jobs_per_worker": 10, "isolated_loops": False}
    assert sizing.postgres_budget(**common, pool_max_size=pool).fits
    with pytest.raises(sizing.SizingError, match="KEDA scaler 2"):
        sizing.postgres_budget(**common, pool_max_size=pool, scaler_connections=sizing.KEDA_SCALER_CONNECTIONS)
    derived = sizing.postgres_budget(**common, scaler_connections=sizing.KEDA_SCALER_CONNECTIONS)
    assert derived.per_replica == (usable - sizing.KEDA_SCALER_CONNECTIONS) // pods.total
    assert derived.used <= usable
