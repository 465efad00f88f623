"""Prometheus metrics: the dedicated endpoint's variables, the metrics port on both roles, the NetworkPolicy rule
admitting the scraper's namespaces to both roles, the optional PodMonitor (validated against the Prometheus
Operator's schema), and the rules (langgraph-api ≥ 0.11.0, a port that is not PORT, standalone only)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from agent_server_infra.errors import ConfigError
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.manifests import manifest
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.components import k8s_validate
from tests.conformance import rules
from tests.helpers import write_modified_stack

METRICS = {"server": {"metrics": {"enabled": True, "podMonitor": True, "scraperNamespaces": ["monitoring"]}}}
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


@pytest.fixture(scope="module")
def prod_metrics(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return plan_stack(str(write_modified_stack(tmp_path_factory.mktemp("metrics"), "prod", METRICS)))


def _policies(recording: Recording) -> dict[str, dict[str, Any]]:
    return {p.plain_inputs["metadata"]["name"].rsplit("-workload-", 1)[1]: p.plain_inputs["spec"]
            for p in recording.by_type(NETWORK_POLICY)}


def test_both_roles_get_the_variables_and_the_metrics_port(prod_metrics: Recording) -> None:
    for config_map in prod_metrics.by_type(CONFIG_MAP):
        data = config_map.plain_inputs["data"]
        assert (data["LSD_PROM_METRICS_ENABLED"], data["LSD_PROM_METRICS_PORT"]) == ("true", "9464")
    for deployment in prod_metrics.by_type(DEPLOYMENT):
        [container] = deployment.plain_inputs["spec"]["template"]["spec"]["containers"]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8000, "metrics": 9464}


def test_the_scraper_namespace_reaches_both_roles(prod_metrics: Recording) -> None:
    policies = _policies(prod_metrics)
    for role in ("api", "queue"):
        scrape = [rule for rule in policies[f"{role}-ingress"]["ingress"]
                  if {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
                  in rule["from"]]
        assert len(scrape) == 1, role
        assert sorted(p["port"] for p in scrape[0]["ports"]) == [8000, 9464]


def test_the_pod_monitor_scrapes_both_roles_under_the_prefix(prod_metrics: Recording) -> None:
    monitor = prod_metrics.one(POD_MONITOR)
    spec = monitor.plain_inputs["spec"]
    assert spec["podMetricsEndpoints"] == [{"port": "http", "path": "/langgraph/metrics", "scheme": "http",
                                            "interval": "30s"}]
    assert spec["selector"]["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["api", "queue"]}]
    assert spec["podTargetLabels"] == ["app.kubernetes.io/component"]
    assert k8s_validate.validate(monitor) == k8s_validate.PROMETHEUS_OPERATOR_VERSION
    deployments = {d.urn for d in prod_metrics.by_type(DEPLOYMENT)}
    assert deployments <= set(monitor.dependencies), "created once the roles exist"


def test_without_metrics_nothing_is_added(planned: Any) -> None:
    recording: Recording = planned("prod")
    assert not recording.by_type(POD_MONITOR)
    assert all("LSD_PROM_METRICS_ENABLED" not in c.plain_inputs["data"] for c in recording.by_type(CONFIG_MAP))
    for spec in _policies(recording).values():
        assert all(9464 not in [p["port"] for p in rule.get("ports", [])] for rule in spec.get("ingress", []))


def test_the_schema_refuses_what_the_operator_refuses(prod_metrics: Recording) -> None:
    good = manifest(prod_metrics.one(POD_MONITOR))
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["podMetricsEndpoints"][0]["port"] = 8000
    with pytest.raises(jsonschema.ValidationError, match="port must be string"):
        k8s_validate.validate_manifest(wrong_type)
    unknown = copy.deepcopy(good)
    unknown["spec"]["podMetricsEndpoints"][0]["pathh"] = "/metrics"
    with pytest.raises(jsonschema.ValidationError, match="unknown fields"):
        k8s_validate.validate_manifest(unknown)
    interval = copy.deepcopy(good)
    interval["spec"]["podMetricsEndpoints"][0]["interval"] = "30 seconds"
    with pytest.raises(jsonschema.ValidationError, match="interval"):
        k8s_validate.validate_manifest(interval)


@pytest.mark.parametrize(("metrics", "server", "expected"), [
    ({"enabled": True, "port": 8000}, {}, "server.metrics.port: must differ from the server's port 8000"),
    ({"podMonitor": True}, {}, "server.metrics.podMonitor: only applies when server.metrics.enabled is true"),
    ({"enabled": True}, {"serverVersion": "0.10.3"},
     "server.metrics.enabled: LSD_PROM_METRICS_ENABLED needs langgraph-api ≥ 0.11.0"),
])
def test_the_rules(raw: dict[str, Any], metrics: dict[str, Any], server: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, "server": {**raw["server"], **server, "metrics": metrics}})
    assert expected in caught.value.report()


def test_a_control_plane_has_no_metrics_of_ours(raw: dict[str, Any]) -> None:
    server = {"deploymentModel": "control-plane", "metrics": {"enabled": True}}
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, "server": server})
    assert "server.metrics: only applies when server.deploymentModel is standalone" in caught.value.report()


def test_the_conformance_rules_find_a_broken_scrape(prod_metrics: Recording) -> None:
    assert not rules.violations(prod_metrics)
    wrong_path = copy.deepcopy(prod_metrics)
    wrong_path.one(POD_MONITOR).wire_inputs["spec"]["podMetricsEndpoints"][0]["path"] = "/metrics"
    assert any("both roles serve /langgraph/metrics" in v for v in rules.violations(wrong_path))
    no_rule = copy.deepcopy(prod_metrics)
    for policy in no_rule.by_type(NETWORK_POLICY):
        ingress = policy.wire_inputs["spec"].get("ingress") or []
        policy.wire_inputs["spec"]["ingress"] = ingress[:1]
    assert any("no NetworkPolicy admits a scraper namespace" in v for v in rules.violations(no_rule))
