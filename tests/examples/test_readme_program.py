"""The README's Python program, unit-tested the way Pulumi's unit-testing guide shows: under its documented mocks,
which return a resource's inputs as its state and ``<name>_id`` as its id, so every output the provider computes
(an RDS address, a generated password, a random suffix, an auto-name) is missing.

The program must run to its end and register every resource; what the mocks leave out stays unknown (absent from
the inputs that would carry it) instead of becoming a made-up value such as ``-final-None``.
"""

# The documented mocks return a list and a bare dict where pulumi.runtime.Mocks declares tuples; kept verbatim.
# pyright: reportIncompatibleMethodOverride=false

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

from tests.helpers import ROOT


# Verbatim from https://www.pulumi.com/docs/iac/guides/testing/unit/ (pulumi/docs,
# content/docs/iac/guides/testing/unit.md, the Python test_ec2.py).
class MyMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return [args.name + '_id', args.inputs]
    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def readme_program() -> str:
    """The README's example program (the python block that builds ``AgentServer("agents", ...)``)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    [program] = [block for block in blocks if 'AgentServer("agents"' in block]
    return program


@pytest.fixture
def registered() -> Iterator[dict[str, tuple[str, dict[str, Any]]]]:
    """The README program run under the documented mocks: ``{"<type>::<name>": (id, state)}``."""
    monitor = MockMonitor(MyMocks())  # what set_mocks makes by default, kept to read what was registered
    pulumi.runtime.set_all_config({"project:licenseKey": "license-0123"}, ["project:licenseKey"])
    pulumi.runtime.reset_options()
    pulumi.runtime.set_mocks(MyMocks(), preview=False, monitor=monitor)
    try:
        pulumi.runtime.test(lambda: exec(compile(readme_program(), "README.md", "exec"), {}))()
        yield {f"{urn.split('::')[-2].split('$')[-1]}::{urn.split('::')[-1]}": (registration.id, registration.state)
               for urn, registration in monitor.get_registered_resources().items()}
    finally:
        pulumi.runtime.set_all_config({}, [])
        pulumi.runtime.reset_options()


def strings(value: Any) -> Iterator[str]:
    """Every text of a state, but the containers' commands: their Python programs are ours, written out verbatim
    (and may spell ``None``), never built from an output."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "command":
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_the_readme_program_registers_every_resource(registered: dict[str, tuple[str, dict[str, Any]]]) -> None:
    for key in ("agent-server-infra:index:AgentServer::agents", "agent-server-infra:index:Postgres::agents-postgres",
                "agent-server-infra:index:Redis::agents-redis", "agent-server-infra:index:Workload::agents-workload",
                "aws:rds/instance:Instance::agents-postgres-db",
                "aws:elasticache/replicationGroup:ReplicationGroup::agents-redis-group",
                "kubernetes:apps/v1:Deployment::agents-workload-api",
                "kubernetes:apps/v1:Deployment::agents-workload-queue",
                "kubernetes:core/v1:Secret::agents-workload-env"):
        assert key in registered, key
    rules = [state for key, (_, state) in registered.items()
             if key.startswith("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule::")]
    assert [rule["referencedSecurityGroupId"] for rule in rules] == ["nodes_id", "nodes_id"]
    _, subnets = registered["aws:rds/subnetGroup:SubnetGroup::agents-postgres-subnets"]
    assert subnets["subnetIds"] == ["private-us-east-1a_id", "private-us-east-1b_id"]


def test_what_the_mocks_leave_out_stays_unknown(registered: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """No value made of ``None``: no snapshot name from a missing random suffix, no URI with a missing host or
    password, no ConfigMap reference to an auto-name the mocks never gave."""
    for key, (_, state) in registered.items():
        assert not [text for text in strings(state) if "None" in text], key
    _, db = registered["aws:rds/instance:Instance::agents-postgres-db"]
    assert "finalSnapshotIdentifier" not in db
    assert db["skipFinalSnapshot"] is False
    assert db["storageEncrypted"] is True
    assert db["publiclyAccessible"] is False
    _, cache = registered["aws:elasticache/replicationGroup:ReplicationGroup::agents-redis-group"]
    assert "finalSnapshotIdentifier" not in cache
    assert cache["transitEncryptionEnabled"] is True
    _, secret = registered["kubernetes:core/v1:Secret::agents-workload-env"]
    assert rpc.is_rpc_secret(secret["stringData"]), "an unknown secret is sent as a secret"
    assert rpc.unwrap_rpc_secret(secret["stringData"]) is None, "the URIs need the stores' endpoints and passwords"
    _, api = registered["kubernetes:apps/v1:Deployment::agents-workload-api"]
    [container] = api["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/agents:1.2.3"
    assert [source.get("configMapRef", {}).get("name") for source in container["envFrom"]] == [None, None]


def test_the_readme_shows_the_documented_mocks() -> None:
    """The README's unit-testing paragraph shows the same mocks as this test."""
    source = (ROOT / "tests" / "examples" / "test_readme_program.py").read_text()
    mocks = re.search(r"^class MyMocks.*?\n(?=\n)", source, flags=re.DOTALL | re.MULTILINE)
    assert mocks is not None
    assert mocks.group(0) in (ROOT / "README.md").read_text()
