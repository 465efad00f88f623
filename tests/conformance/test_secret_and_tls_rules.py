"""The conformance rules of secret variables and Postgres TLS catch what they are about: each is shown a
recording of the corpus with one thing broken (a mount dropped or writable, sslrootcert without verify-full, a
secret in a ConfigMap) and must name it; the unbroken recording passes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from agent_server_infra.plan.engine import RecordedResource, Recording, reveal
from tests.conformance import rules
from tests.conformance.conftest import Corpus


def broken(recording: Recording, type_: str, change: Callable[[dict[str, Any]], None]) -> Recording:
    """A copy of ``recording`` whose resources of ``type_`` have their (revealed) inputs changed by ``change``."""
    copied = copy.deepcopy(recording)
    resources: list[RecordedResource] = []
    for resource in copied.resources:
        if resource.type == type_:
            inputs = reveal(resource.wire_inputs)
            change(inputs)
            resource = RecordedResource(resource.urn, resource.type, resource.name, resource.parent, inputs,
                                        {**reveal(resource.wire_outputs), **inputs}, resource.dependencies)
        resources.append(resource)
    copied.resources = resources
    return copied


def containers(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    return inputs["spec"]["template"]["spec"]["containers"]


def drop_mounts(inputs: dict[str, Any]) -> None:
    for container in containers(inputs):
        container["volumeMounts"] = [m for m in container.get("volumeMounts") or [] if m["name"] != "postgres-ca"]


def writable(inputs: dict[str, Any]) -> None:
    for container in containers(inputs):
        for mount in container.get("volumeMounts") or []:
            mount["readOnly"] = False


def require_mode(inputs: dict[str, Any]) -> None:
    data = inputs.get("stringData") or {}
    if "DATABASE_URI" in data:
        data["DATABASE_URI"] = data["DATABASE_URI"].replace("sslmode=verify-full", "sslmode=require")


def leak(inputs: dict[str, Any]) -> None:
    inputs.setdefault("data", {})["LANGGRAPH_AES_KEY"] = "leaked"


@pytest.fixture
def verify_full(corpus: Corpus) -> Recording:
    return corpus("variant:postgres-verify-full-iam")[0]


def test_the_unbroken_recordings_pass(corpus: Corpus) -> None:
    for key in ("variant:postgres-verify-full-iam", "variant:postgres-verify-full", "variant:extra-secret-env"):
        assert rules.violations(corpus(key)[0]) == [], key


@pytest.mark.parametrize(("type_", "change", "expected"), [
    (rules.DEPLOYMENT, drop_mounts, "but nothing is mounted at /etc/agent-server/postgres-ca"),
    (rules.JOB, drop_mounts, "but nothing is mounted at /etc/agent-server/postgres-ca"),
    (rules.DEPLOYMENT, writable, "is mounted writable"),
    (rules.SECRET, require_mode, "names sslrootcert with sslmode ['require']"),
])
def test_a_broken_trust_path_is_named(verify_full: Recording, type_: str, change: Callable[[dict[str, Any]], None],
                                      expected: str) -> None:
    found = rules.violations(broken(verify_full, type_, change))
    assert any(expected in problem for problem in found), found


def test_a_secret_in_a_config_map_is_named(corpus: Corpus) -> None:
    recording = corpus("variant:extra-secret-env")[0]
    found = rules.violations(broken(recording, rules.CONFIG_MAP, leak))
    assert any("data.LANGGRAPH_AES_KEY is a secret variable" in problem for problem in found), found
