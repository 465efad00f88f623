"""`plan STACK --markdown`: the report of every shipped stack renders, its Mermaid block is a graph, secrets stay
masked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from agent_server_infra import cli
from agent_server_infra.plan.document import to_document
from agent_server_infra.plan.engine import Recording, Secret, reveal
from agent_server_infra.plan.report import mermaid_blocks, mermaid_graph, plan_markdown
from tests.helpers import ROOT, STACKS

NODE_ID = r"[A-Za-z0-9_]+"
NODE = re.compile(rf'^({NODE_ID})\["([^"\[\]]*)"\]$')
EDGE = re.compile(rf"^({NODE_ID}) (-->|-\.->) ({NODE_ID})$")
COMPONENT = "agent-server-infra:index:"


def check_mermaid_graph(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """A small syntactic check of the Mermaid subset the report writes, returning its nodes and edges.

    The first line is ``graph TD`` (or ``flowchart TD``); every other line is a node declaration
    ``id["label"]`` or an edge ``a --> b`` / ``a -.-> b``; ids are letters, digits and ``_`` and declared once;
    every id an edge uses is declared; brackets and quotes balance on every line.
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    assert lines[0] in {"graph TD", "flowchart TD"}, lines[0]
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in lines[1:]:
        assert line.count("[") == line.count("]"), f"unbalanced brackets: {line}"
        assert line.count('"') % 2 == 0, f"unbalanced quotes: {line}"
        if node := NODE.match(line):
            assert node.group(1) not in nodes, f"declared twice: {node.group(1)}"
            nodes[node.group(1)] = node.group(2)
        elif edge := EDGE.match(line):
            edges.append((edge.group(1), edge.group(2), edge.group(3)))
        else:
            raise AssertionError(f"neither a node nor an edge: {line!r}")
    for a, _, b in edges:
        assert a in nodes, f"edge from an undeclared node: {a} -> {b}"
        assert b in nodes, f"edge to an undeclared node: {a} -> {b}"
    return nodes, edges


def generated_secrets(recording: Recording) -> list[str]:
    """The values the mocks generated as secrets (passwords, AUTH tokens) and the secret env of each server."""
    found: list[str] = []
    for resource in recording.resources:
        for value in resource.outputs.values():
            if isinstance(value, Secret):
                found.extend(strings(reveal(value)))
        secret_env = resource.registered_outputs.get("secret_env")
        if isinstance(secret_env, Secret):
            found.extend(strings(reveal(secret_env)))
    return [value for value in found if len(value) >= 12]


def strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.fixture(scope="module")
def reports(planned: Callable[[str], Recording]) -> dict[str, str]:
    return {stack: plan_markdown(to_document(planned(stack))) for stack in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_report_renders_every_section(stack: str, reports: dict[str, str], planned: Callable[[str], Recording]) -> None:
    report = reports[stack]
    document = to_document(planned(stack))
    assert report.startswith(f"## Plan: `agent-server/{stack}`")
    for heading in ("### Components", "<details><summary>Resources</summary>", "#### Connection budget",
                    "#### Environment"):
        assert heading in report, heading
    assert f"**{len(document['resources'])} resources**" in report
    protected = sum(1 for resource in document["resources"] if resource["protect"])
    assert f"**{protected} protected**" in report
    for deployment in document["deployments"]:
        for store, budget in deployment["budget"].items():
            assert f"| {store} | {budget['per_replica']} | {budget['used']} / {budget['usable']} |" in report
            assert f"**{budget['usage_percent']}%**" in report
        for name in deployment["secretEnv"]:
            assert f"| `{name}` | 🔑 `[secret]` |" in report
    for resource in document["resources"]:
        assert f"| `{resource['type']}` | {resource['name']} |" in report


@pytest.mark.parametrize("stack", STACKS)
def test_report_mermaid_block_is_a_graph_of_the_components(stack: str, reports: dict[str, str],
                                                           planned: Callable[[str], Recording]) -> None:
    blocks = mermaid_blocks(reports[stack])
    assert len(blocks) == 1
    nodes, edges = check_mermaid_graph(blocks[0])
    components = [r for r in planned(stack).resources if r.type.startswith(COMPONENT)]
    labels = set(nodes.values())
    for component in components:
        assert f"{component.type.removeprefix(COMPONENT)}<br/>{component.name}" in labels
    # The AgentServer contains its stores and workload; the stores feed the workload's Secret (dotted edges).
    contains = [(a, b) for a, arrow, b in edges if arrow == "-->"]
    assert any(nodes[a].startswith("AgentServer<br/>") and nodes[b].startswith("Workload<br/>") for a, b in contains)
    feeds = [(nodes[a], nodes[b]) for a, arrow, b in edges if arrow == "-.->"]
    instance = "aws:rds<br/>Instance 🔒" if stack in {"prod", "cluster"} else "aws:rds<br/>Instance"
    # staging (IAM authentication) has two Secrets: the server's and the bootstrap Job's.
    secrets = "kubernetes:core/v1<br/>Secret ×2" if stack == "staging" else "kubernetes:core/v1<br/>Secret"
    assert (instance, secrets) in feeds
    # One node per component and per type of resource a component creates, however many resources there are.
    kinds = {(r.parent, r.type) for r in planned(stack).resources if not r.type.startswith(COMPONENT)}
    assert len(nodes) <= len(components) + len(kinds)


@pytest.mark.parametrize("stack", STACKS)
def test_report_masks_secrets(stack: str, reports: dict[str, str], planned: Callable[[str], Recording]) -> None:
    secrets = generated_secrets(planned(stack))
    assert secrets, "the recording holds generated passwords and secret env values"
    for secret in secrets:
        assert secret not in reports[stack]
    assert "postgresql://" not in reports[stack]
    assert "rediss://" not in reports[stack]
    shown = plan_markdown(to_document(planned(stack), show_secrets=True))
    assert any(secret in shown for secret in secrets), "with --show-secrets the report shows them"


def test_mermaid_checker_rejects_what_is_not_a_graph() -> None:
    good = 'graph TD\n    a["A"]\n    b["B"]\n    a --> b'
    check_mermaid_graph(good)
    for bad in ('flowchart LR\n    a["A"]', 'graph TD\n    a["A"]\n    a --> b', 'graph TD\n    a["A"\n',
                'graph TD\n    a-b["A"]', 'graph TD\n    a["A"]\n    a["B"]', 'graph TD\n    subgraph x'):
        with pytest.raises(AssertionError):
            check_mermaid_graph(bad)


def test_node_ids_are_sanitized_and_unique() -> None:
    def resource(type_: str, name: str, parent: str | None = None) -> dict[str, Any]:
        return {"type": type_, "name": name, "urn": f"urn:{type_}::{name}", "parent": parent, "inputs": {},
                "dependencies": [], "protect": False}

    server = resource(f"{COMPONENT}AgentServer", "end")  # `end` is a Mermaid keyword
    twin = resource(f"{COMPONENT}AgentServer", "end!")  # sanitizes to the same text
    child = resource("kubernetes:core/v1:ConfigMap", 'odd "name" [x]', server["urn"])
    nodes, edges = check_mermaid_graph(mermaid_graph({"resources": [server, twin, child]}))
    assert len(nodes) == 3
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", node) and not node.startswith("end") for node in nodes)
    assert len(edges) == 1


def test_plan_writes_the_markdown_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         reports: dict[str, str]) -> None:
    monkeypatch.chdir(ROOT)
    path = tmp_path / "report.md"
    assert cli.main(["plan", "dev", "--quiet", "--markdown", str(path)]) == 0
    assert path.read_text() == reports["dev"]
