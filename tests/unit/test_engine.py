"""The package's mock engine records what any program registers and computes provider-like outputs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest

from agent_server_infra.plan import engine
from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.engine import Secret


class Box(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Box", name)
        self.password = random.RandomPassword(f"{name}-pw", length=24, special=True, override_special="-_",
                                              opts=pulumi.ResourceOptions(parent=self))
        group = aws.ec2.SecurityGroup(f"{name}-sg", vpc_id="vpc-1", opts=pulumi.ResourceOptions(parent=self))
        self.db = aws.rds.Instance(f"{name}-db", engine="postgres", instance_class="db.t4g.micro",
                                   password=self.password.result, vpc_security_group_ids=[group.id],
                                   opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.cache = aws.elasticache.ReplicationGroup(f"{name}-cache", description="x", cluster_mode="enabled",
                                                      opts=pulumi.ResourceOptions(parent=self))
        self.config_map = k8s.core.v1.ConfigMap(f"{name}-cm", data={"A": "1"},
                                                opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"address": self.db.address})


def program() -> None:
    box = Box("box")
    pulumi.export("address", box.db.address)
    pulumi.export("password", box.password.result)
    pulumi.export("cfg", pulumi.Config("agent-server").require_object("server"))
    pulumi.export("configEndpoint", box.cache.configuration_endpoint_address)
    pulumi.export("cmName", box.config_map.metadata.apply(lambda m: m["name"] if m else None))


def test_records_types_names_parents_dependencies_and_outputs() -> None:
    rec = engine.run(program, config={"agent-server:server": {"image": "x"}}, stack="unit")
    box = rec.one("test:index:Box")
    db = rec.one("aws:rds/instance:Instance")
    assert db.name == "box-db"
    assert db.parent == box.urn
    assert db.protect is True
    assert rec.one("aws:ec2/securityGroup:SecurityGroup").urn in db.dependencies
    assert rec.one("random:index/randomPassword:RandomPassword").urn in db.dependencies
    assert isinstance(db.inputs["password"], Secret)
    assert db.inputs["instanceClass"] == "db.t4g.micro"
    assert rec.ancestors(db) == [box]
    assert box.registered_outputs["address"] == db.outputs["address"]


def test_outputs_are_computed_and_secrets_stay_secret() -> None:
    rec = engine.run(program, config={"agent-server:server": {"image": "x"}})
    assert rec.outputs["address"].endswith(".rds.amazonaws.com")
    password = rec.outputs["password"]
    assert isinstance(password, Secret)
    assert len(password.value) == 24
    assert set(password.value) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    assert rec.outputs["cfg"] == {"image": "x"}
    assert rec.outputs["configEndpoint"].startswith("clustercfg.")
    assert rec.outputs["cmName"].startswith("box-cm-")
    assert repr(password) == "Secret([secret])"


def test_runs_are_independent_and_deterministic() -> None:
    first = engine.run(program, config={"agent-server:server": {"image": "x"}})
    second = engine.run(program, config={"agent-server:server": {"image": "x"}})
    # Registration order is asynchronous; the set of resources and every output are not.
    assert sorted(r.urn for r in first.resources) == sorted(r.urn for r in second.resources)
    assert first.outputs == second.outputs
    assert len(second.resources) == 6


def test_secret_outputs_are_made_plain_like_the_others() -> None:
    """Tuples and resources inside a secret stack output become lists and labels, as in a plain one."""
    def exports() -> None:
        box = Box("box")
        pulumi.export("plain", ("a", box.config_map))
        pulumi.export("secret", pulumi.Output.secret(("a", box.config_map)))

    rec = engine.run(exports)
    assert rec.outputs["plain"] == ["a", "<resource ConfigMap>"]
    assert rec.outputs["secret"] == Secret(["a", "<resource ConfigMap>"])
    document = json.loads(dumps(to_document(rec, show_secrets=True)))
    assert document["outputs"]["secret"] == ["a", "<resource ConfigMap>"]


def test_unnamed_aws_resources_get_pulumi_aws_auto_names() -> None:
    """``<name>-<7 hex>`` with the case kept by default; RDS joins without a separator; ElastiCache lower-cases
    a replication group id within 40 characters; an auto-name over the limit is an error, not a truncation."""

    def named() -> None:
        aws.ec2.SecurityGroup("Mixed_Case-sg", vpc_id="vpc-1")
        aws.rds.Instance("Db", engine="postgres", instance_class="db.t4g.micro")
        aws.elasticache.ReplicationGroup("Cache", description="x")
        aws.ec2.SecurityGroup("explicit", name="given", vpc_id="vpc-1")

    rec = engine.run(named)
    group = rec.one("aws:ec2/securityGroup:SecurityGroup", "Mixed_Case-sg").outputs["name"]
    assert group.startswith("Mixed_Case-sg-")
    assert len(group) == len("Mixed_Case-sg-") + 7
    assert int(group[-7:], 16) >= 0
    identifier = rec.one("aws:rds/instance:Instance").outputs["identifier"]
    assert identifier.startswith("Db")
    assert len(identifier) == 2 + 7
    assert rec.one("aws:rds/instance:Instance").outputs["address"].startswith(identifier + ".")
    assert rec.one("aws:elasticache/replicationGroup:ReplicationGroup").outputs["replicationGroupId"].startswith(
        "cache-")
    assert rec.one("aws:ec2/securityGroup:SecurityGroup", "explicit").outputs["name"] == "given"

    def too_long() -> None:
        aws.elasticache.ReplicationGroup("c" * 33, description="x")

    with pytest.raises(engine.AutoNameTooLongError, match="longer than maximum length 40"):
        engine.run(too_long)


def test_a_failing_apply_fails_the_run_even_when_nothing_awaits_it() -> None:
    def program() -> None:
        pulumi.Output.from_input(1).apply(lambda value: value / 0)

    with pytest.raises(ZeroDivisionError):
        engine.run(program)


def test_resources_registered_late_by_an_apply_are_recorded() -> None:
    """Nothing awaits the apply: the run still waits for it (the SDK's tracked outputs) and its resource."""
    def program() -> None:
        pulumi.Output.from_input("late").apply(lambda name: k8s.core.v1.ConfigMap(name, data={"k": "v"}))

    recording = engine.run(program)
    assert [resource.name for resource in recording.resources] == ["late"]


def test_a_registration_the_mocks_refuse_fails_the_run_once_the_program_is_done(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As a preview reports every resource the provider refuses: the program runs to its end (the resources after
    the refused one are recorded), then the first refusal is raised, the others named in its notes."""
    stock_new_resource = engine.RecordingMocks.new_resource

    def new_resource(self: engine.RecordingMocks, args: Any) -> Any:
        if args.name.startswith("broken"):
            raise RuntimeError(f"provider refused {args.name}")
        return stock_new_resource(self, args)

    monkeypatch.setattr(engine.RecordingMocks, "new_resource", new_resource)

    def program() -> None:
        config_map = k8s.core.v1.ConfigMap("broken-1", data={"k": "v"})
        k8s.core.v1.ConfigMap("broken-2", data={"k": "v"})
        k8s.core.v1.ConfigMap("after", data=config_map.data)

    recording = engine.Recording(project="p", stack="s")
    with pytest.raises(RuntimeError, match="provider refused broken-1") as raised:
        engine.run(program, recording=recording)
    assert raised.value.__notes__ == ["also refused: RuntimeError: provider refused broken-2"]
    assert [resource.name for resource in recording.resources] == ["broken-1", "broken-2", "after"]
    assert recording.one("kubernetes:core/v1:ConfigMap", "after").inputs["data"] == {"k": "v"}


def unretrieved_after(program: Callable[[], None], caplog: pytest.LogCaptureFixture) -> list[str]:
    """What asyncio reports as never retrieved once a failed run's leftovers are collected."""
    with caplog.at_level(logging.ERROR, logger="asyncio"), contextlib.suppress(Exception):
        engine.run(program)
    pulumi.runtime.reset_options()
    gc.collect()
    return [record.getMessage() for record in caplog.records if "never retrieved" in record.getMessage()]


def test_a_refused_registration_leaves_no_unretrieved_exception(caplog: pytest.LogCaptureFixture) -> None:
    """Raising the refusal into the SDK would fail each output future of the resource, and the ones the program
    never reads would be reported whenever they are collected (after pytest's summary, at exit)."""
    def too_long() -> None:
        group = aws.elasticache.ReplicationGroup("c" * 33, description="x")
        pulumi.export("port", group.port)

    assert unretrieved_after(too_long, caplog) == []


def test_a_failing_program_leaves_no_unretrieved_exception(caplog: pytest.LogCaptureFixture) -> None:
    def program() -> None:
        config_map = k8s.core.v1.ConfigMap("a", data={"k": "v"})
        config_map.data.apply(lambda data: data["missing"])
        raise ValueError("the program fails after registering")

    assert unretrieved_after(program, caplog) == []


def test_the_loop_keeps_a_working_default_executor_after_a_run() -> None:
    """A run lends the loop an inline executor and gives it back a thread pool; closing that loop shuts the pool
    down, so the next loop must get a pool of its own, not the closed one."""
    def program() -> None:
        pulumi.export("answer", 42)

    previous = asyncio.get_event_loop_policy().get_event_loop()
    try:
        for _ in range(2):
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            engine.run(program)
            assert loop.run_until_complete(loop.run_in_executor(None, lambda: 7)) == 7
            loop.close()
    finally:
        asyncio.set_event_loop(previous)
