"""The mock engine's own behaviour: stable documents, deterministic registration order, secrets kept as markers,
and the SDK left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime import rpc

from agent_server_infra.plan import document, engine
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT


def json_like(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)), max_leaves=25)


json_values = json_like(st.one_of(st.none(), st.booleans(), st.integers(), st.text()))
json_numbers = json_like(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_dumps_writes_what_json_dumps_writes(value: dict[str, Any]) -> None:
    """Byte for byte, integers of any size included (beyond 64 bits the standard library writes them)."""
    assert document.dumps(value) == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_numbers, max_size=5))
def test_dumps_keeps_every_number(value: dict[str, Any]) -> None:
    """Floats may be spelt differently (``1e-05`` or ``0.00001``) but read back as the same numbers."""
    assert json.loads(document.dumps(value)) == value


def test_plan_json_is_identical_across_processes(tmp_path: Path) -> None:
    """Generated ConfigMap/Secret names hash their data: a map decoded from the wire has no stable order across
    processes, so the hash must not depend on it (base and head of a PR are planned by different processes)."""
    command = str(Path(sys.executable).with_name("agent-server-infra"))
    outputs = []
    for index in range(2):
        path = tmp_path / f"plan-{index}.json"
        subprocess.run([command, "plan", "prod", "--quiet", "--json", str(path)], cwd=ROOT, check=True)
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_registration_order_is_deterministic_and_follows_the_program(planned: Callable[[str], Recording]) -> None:
    """Monitor calls run inline, so registrations happen in the order the program's coroutines reach them:
    the same every run, parents first, components in program order (no thread pool reorders them)."""
    first = planned("prod")
    second = plan_stack(str(ROOT / "stacks" / "Pulumi.prod.yaml"))
    assert [r.urn for r in first.resources] == [r.urn for r in second.resources]
    position = {r.urn: index for index, r in enumerate(first.resources)}
    for resource in first.resources:
        if resource.parent in position:
            assert position[resource.parent] < position[resource.urn], resource.name
    components = [r.name for r in first.resources if r.type.startswith("agent-server-infra:index:")]
    assert components == ["agent-server-prod", "agent-server-prod-postgres", "agent-server-prod-redis",
                          "agent-server-prod-workload"]


def test_recorded_inputs_and_outputs_mark_secrets(planned: Callable[[str], Recording]) -> None:
    password = planned("prod").one("random:index/randomPassword:RandomPassword", "agent-server-prod-postgres-password")
    assert isinstance(password.outputs["result"], engine.Secret)
    assert rpc.is_rpc_secret(password.wire_outputs["result"])
    db = planned("prod").one("aws:rds/instance:Instance")
    assert isinstance(db.inputs["password"], engine.Secret)
    assert db.inputs["password"].value == password.outputs["result"].value
