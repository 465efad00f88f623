"""The package uses the Pulumi SDKs through their public interfaces: no module of it replaces an attribute of
``pulumi``, ``pulumi_aws``, ``pulumi_kubernetes`` or ``pulumi_random`` (a private function, a method, a module
global), touches the import machinery, or rebinds an object's class."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "components" / "agent_server_infra"
SDKS = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random")
FORBIDDEN_NAMES = {"meta_path", "path_hooks", "path_importer_cache"}
"""The import machinery: a hook there changes how another library's modules load."""


def sdk_names(tree: ast.Module) -> set[str]:
    """The names a module binds to an SDK module or to something imported from one."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names
                      if alias.name.split(".")[0] in SDKS}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SDKS:
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def patches(source: str) -> list[str]:
    """Where ``source`` replaces an SDK attribute, calls setattr/delattr, or reaches the import machinery."""
    tree = ast.parse(source)
    sdk = sdk_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, ast.Attribute | ast.Subscript) and root_name(target) in sdk:
                found.append(f"line {target.lineno}: assigns {ast.unparse(target)}")
        if isinstance(node, ast.Call):
            function = ast.unparse(node.func)
            if function.split(".")[-1] in ("setattr", "delattr", "__setattr__", "__delattr__"):
                found.append(f"line {node.lineno}: calls {function}")
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            found.append(f"line {node.lineno}: uses {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_patches_the_sdks(path: Path) -> None:
    assert patches(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("source", [
    "from pulumi.runtime import rpc\nrpc.serialize_property = fast\n",
    "from pulumi import _utils as utils\nutils.lazy_import = thin\n",
    "import pulumi\npulumi.Output._track = track\n",
    "import pulumi_kubernetes as k8s\nk8s.core.v1.__dict__['Pod'] = None\n",
    "import contextlib\ndef patched(target, name, value):\n    setattr(target, name, value)\n",
    "import sys\nsys.meta_path.insert(0, Finder())\n",
    "object.__setattr__(module, '__class__', Thin)\n",
])
def test_the_scan_finds_each_kind_of_patch(source: str) -> None:
    assert patches(source)
