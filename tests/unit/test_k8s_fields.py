"""``k8s_fields.wire`` builds the dict the Kubernetes SDK sends for an ``…Args`` object: same fields, same names,
same order, so a plan's documents and manifests are the same bytes either way."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest

from agent_server_infra.k8s_fields import api_name, wire
from agent_server_infra.plan import engine


@pytest.mark.parametrize(("python", "api"), [
    ("name", "name"), ("container_port", "containerPort"), ("termination_grace_period_seconds",
                                                             "terminationGracePeriodSeconds"),
    ("from_", "from"), ("ip_block", "ipBlock"), ("http_get", "httpGet"),
])
def test_api_names_are_the_camel_case_of_the_python_names(python: str, api: str) -> None:
    assert api_name(python) == api


def container(build: Any) -> Any:
    return build(k8s.core.v1.ContainerArgs, name="api", image="registry.example.com/agents:1.2.3", command=None,
                 ports=[build(k8s.core.v1.ContainerPortArgs, name="http", container_port=8000, protocol="TCP")],
                 security_context=build(k8s.core.v1.SecurityContextArgs, run_as_non_root=True,
                                        allow_privilege_escalation=False, read_only_root_filesystem=True,
                                        capabilities=build(k8s.core.v1.CapabilitiesArgs, drop=["ALL"])),
                 readiness_probe=build(k8s.core.v1.ProbeArgs, period_seconds=5, http_get=build(
                     k8s.core.v1.HTTPGetActionArgs, path="/ok", port="http")))


def registered(build: Any) -> list[Any]:
    """What the engine receives for a Deployment whose container is built by ``build``: each nested object's
    keys in the order they arrive, and the values."""
    def program() -> None:
        k8s.apps.v1.Deployment("web", spec=build(
            k8s.apps.v1.DeploymentSpecArgs,
            selector=build(k8s.meta.v1.LabelSelectorArgs, match_labels={"app": "web"}),
            template=build(k8s.core.v1.PodTemplateSpecArgs, spec=build(
                k8s.core.v1.PodSpecArgs, containers=[container(build)], enable_service_links=False))))

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return [(key, shape(item)) for key, item in value.items()]
        if isinstance(value, list):
            return [shape(item) for item in value]
        return value

    return shape(engine.run(program).one("kubernetes:apps/v1:Deployment").wire_inputs)


def test_wire_sends_what_the_args_objects_send() -> None:
    """Field names, the unset field left out, values, and the order of the keys (``plan --manifests`` keeps it)."""
    def args(args_type: Any, **fields: Any) -> Any:
        return args_type(**fields)

    assert registered(wire) == registered(args)


def test_a_field_the_args_class_does_not_have_is_refused() -> None:
    with pytest.raises(TypeError, match="ContainerPortArgs takes no containerport"):
        wire(k8s.core.v1.ContainerPortArgs, containerport=8000)  # type: ignore[call-arg]  # the typo under test
