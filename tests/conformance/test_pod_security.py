"""The pod security rules catch what they say: a container (init containers included) outside the Restricted
profile, and a sysctl the kubelet refuses unless the cluster admin allowed it."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from agent_server_infra import pod_security
from agent_server_infra.plan.engine import RecordedResource, Recording
from tests.conformance import rules
from tests.conformance.conftest import Corpus


def _queue(recording: Recording) -> RecordedResource:
    [queue] = [resource for resource in recording.by_type(rules.DEPLOYMENT)
               if (rules.value(resource, "metadata.labels") or {}).get("app.kubernetes.io/component") == "queue"]
    return queue


def _with_pod(resource: RecordedResource, change: dict[str, Any]) -> RecordedResource:
    """The resource with ``change`` merged into its pod spec (a copy; the corpus stays as planned)."""
    inputs = copy.deepcopy(resource.wire_inputs)
    inputs["spec"]["template"]["spec"].update(change)
    return dataclasses.replace(resource, wire_inputs=inputs)


def test_every_container_of_prod_obeys_the_restricted_profile(corpus: Corpus) -> None:
    recording, _ = corpus("stack:prod")
    queue = _queue(recording)
    assert [container["name"] for container in rules.value(queue, "spec.template.spec.initContainers")] == \
        ["wait-for-stores"]
    assert list(rules._restricted(recording, queue)) == []


def test_an_init_container_outside_the_profile_is_caught(corpus: Corpus) -> None:
    recording, _ = corpus("stack:prod")
    queue = _queue(recording)
    [wait] = copy.deepcopy(rules.value(queue, "spec.template.spec.initContainers"))
    wait["securityContext"] = {"readOnlyRootFilesystem": True}
    problems = list(rules._restricted(recording, _with_pod(queue, {"initContainers": [wait]})))
    assert problems == ["initContainers wait-for-stores: allowPrivilegeEscalation is not false",
                        "initContainers wait-for-stores: capabilities do not drop ALL"]
    wait["securityContext"] = {**rules.value(queue, "spec.template.spec.containers")[0]["securityContext"],
                               "readOnlyRootFilesystem": False}
    problems = list(rules._restricted(recording, _with_pod(queue, {"initContainers": [wait]})))
    assert problems == ["initContainers wait-for-stores: the root filesystem is writable"]


def test_sysctls_are_the_safe_set_or_the_documented_opt_in(corpus: Corpus) -> None:
    recording, _ = corpus("variant:tcp-retries2")
    queue = _queue(recording)
    assert rules.value(queue, "spec.template.spec.securityContext.sysctls") == [
        {"name": pod_security.TCP_RETRIES2, "value": "8"}]
    assert list(rules._sysctls(recording, queue)) == []
    context = rules.value(queue, "spec.template.spec.securityContext")
    for name, setting, problem in (
            ("net.ipv4.tcp_keepalive_time", "60", None),
            ("net.core.somaxconn", "1024", "neither a safe sysctl nor an unsafe one"),
            (pod_security.TCP_RETRIES2, "3", "must be 8-15")):
        changed = _with_pod(queue, {"securityContext": {**context, "sysctls": [{"name": name, "value": setting}]}})
        found = list(rules._sysctls(recording, changed))
        assert (problem is None and found == []) or (problem is not None and problem in found[0]), found


def test_the_tcp_retries2_timeouts_are_the_kernels() -> None:
    # ip-sysctl.rst: 15 yields a hypothetical timeout of 924.6 s; RFC 1122's 100 s floor corresponds to 8.
    assert pod_security.tcp_retries2_timeout(15) == 924.6
    assert pod_security.tcp_retries2_timeout(8) == 102.2
    assert pod_security.tcp_retries2_timeout(7) < 100 < pod_security.tcp_retries2_timeout(8)
    assert pod_security.TCP_RETRIES2 not in pod_security.SAFE_SYSCTLS
