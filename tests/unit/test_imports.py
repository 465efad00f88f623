"""The package's modules import one way: no cycle, and the deciding modules need no Pulumi."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "components" / "agent_server_infra"
DECIDING = ("config", "rules", "validate", "sizing", "env_table", "env", "naming", "provider_rules", "errors",
            "versions", "loaders", "codegen", "alarms")
"""Modules that decide (pure functions over plain values); their tests need no Pulumi."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports, at module level or inside functions (both are edges)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("agent_server_infra"):
                continue
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("agent_server_infra"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    # The package root only re-exports lazily; an import of it is not an edge to everything it names.
    return {name: {target for target in imports_of(path) if target in modules and target != "agent_server_infra"
                   and target != name} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    edges = graph()
    assert len(edges) > 25
    assert "agent_server_infra.env_table" in edges["agent_server_infra.config"]
    found = cycles(edges)
    assert not found, "\n".join(" → ".join(cycle) for cycle in found)


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_deciding_modules_import_without_pulumi() -> None:
    code = ("import sys\n" + "".join(f"import agent_server_infra.{name}\n" for name in DECIDING)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', "
              "'pulumi_kubernetes', 'pulumi_random')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout
