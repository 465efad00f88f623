"""Generate the release table (``releases.json``) from the ``langgraph-api`` wheels on PyPI.

A wheel is a zip of the release's Python source. Every module in it is parsed (never imported or run) and each
read of an environment variable is recorded: a call of a starlette ``Config`` object (``env("N_JOBS_PER_WORKER",
cast=int, default=10)``, how ``langgraph_api/config`` reads almost everything), ``os.getenv``/``getenv``,
``os.environ.get``/``environ.get``, ``os.environ["X"]`` and ``"X" in os.environ``. Only literal names count: a
name built at run time cannot be read from the source, and none of the variables this library renders is.
Writes (``environ["LANGSMITH_TRACING"] = "true"``, ``setdefault``) are not reads.

Wheels are downloaded from the URLs and checked against the SHA-256 digests PyPI's JSON API lists, into a cache
outside the repository.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import os
import re
import urllib.request
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import urljoin

from packaging.requirements import InvalidRequirement, Requirement

from .env_table import ENV
from .releases import PACKAGE, Release

PYPI_JSON = f"https://pypi.org/pypi/{PACKAGE}/json"
CHECKPOINTER_VARIABLE = ENV["LS_DEFAULT_CHECKPOINTER_BACKEND"].name
TRACING_VARIABLE = ENV["LANGSMITH_TRACING"].name
SERVER_MODULE = "langgraph_api/server.py"
_ENV_READERS = {"getenv", "os.getenv", "environ.get", "os.environ.get"}
_ENVIRON = {"environ", "os.environ"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class WheelFile:
    """A release's wheel as PyPI lists it."""

    version: str
    filename: str
    url: str
    sha256: str


def pypi_wheels(versions: Iterable[str], index: str = PYPI_JSON) -> dict[str, WheelFile]:
    """The pure-Python wheel of each version, from PyPI's JSON API (one request for all of them)."""
    with urllib.request.urlopen(index, timeout=60) as response:
        document = json.load(response)
    found: dict[str, WheelFile] = {}
    for version in versions:
        files = [item for item in document["releases"].get(version, [])
                 if item["packagetype"] == "bdist_wheel" and item["filename"].endswith("-none-any.whl")]
        if not files:
            raise LookupError(f"{PACKAGE} {version} has no pure-Python wheel on PyPI")
        item = files[0]
        # A mirror of the index may list URLs relative to the JSON document.
        found[version] = WheelFile(version, item["filename"], urljoin(index, item["url"]), item["digests"]["sha256"])
    return found


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agent-server-infra" / "wheels"


def fetch(wheel: WheelFile, cache: Path) -> Path:
    """The wheel in ``cache`` (downloaded when missing), its SHA-256 checked against PyPI's."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / wheel.filename
    if not path.exists() or _sha256(path) != wheel.sha256:
        partial = path.with_suffix(".part")
        with urllib.request.urlopen(wheel.url, timeout=120) as response, partial.open("wb") as out:
            out.write(response.read())
        if _sha256(partial) != wheel.sha256:
            partial.unlink()
            raise ValueError(f"{wheel.filename}: SHA-256 differs from PyPI's {wheel.sha256}")
        partial.replace(path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- reading a module ---------------------------------------------------------------------------------------


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Module:
    """One parsed module: the names bound to starlette ``Config`` objects and the ``os`` names it imported."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        config_classes: set[str] = set()
        self.os_names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "starlette.config":
                config_classes |= {alias.asname or alias.name for alias in node.names if alias.name == "Config"}
            elif isinstance(node, ast.ImportFrom) and node.module == "os":
                self.os_names |= {alias.asname or alias.name for alias in node.names}
        self.configs = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                        and isinstance(node.value, ast.Call) and ast.unparse(node.value.func) in config_classes
                        for target in node.targets if isinstance(target, ast.Name)}

    def _reader(self, func: ast.expr) -> bool:
        text = ast.unparse(func)
        if text in self.configs or text in {f"{name}.get" for name in self.configs}:
            return True
        if text in _ENV_READERS:
            return not text.startswith(("getenv", "environ")) or text.split(".")[0] in self.os_names
        return False

    def _environ(self, node: ast.expr) -> bool:
        text = ast.unparse(node)
        return text in _ENVIRON and (text == "os.environ" or "environ" in self.os_names)

    def reads(self) -> Iterator[str]:
        for node in ast.walk(self.tree):
            name: str | None = None
            if isinstance(node, ast.Call) and self._reader(node.func):
                name = _literal(node.args[0]) if node.args else _literal(
                    next((kw.value for kw in node.keywords if kw.arg == "key"), None))
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and self._environ(node.value):
                name = _literal(node.slice)
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn) \
                    and self._environ(node.comparators[0]):
                name = _literal(node.left)
            if name is not None and _NAME.match(name):
                yield name


def _accepted_backends(module: _Module) -> tuple[str, ...] | None:
    """The values a function that reads ``LS_DEFAULT_CHECKPOINTER_BACKEND`` accepts: its ``not in {...}`` test."""
    for function in ast.walk(module.tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if CHECKPOINTER_VARIABLE not in {_literal(arg) for node in ast.walk(function) if isinstance(node, ast.Call)
                                         for arg in node.args[:1]}:
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.NotIn) \
                    and isinstance(node.comparators[0], ast.Set | ast.Tuple | ast.List):
                values = [_literal(item) for item in node.comparators[0].elts]
                if values and all(value is not None for value in values):
                    return tuple(sorted(str(value) for value in values))
    return None


def _cors_credentials(module: _Module) -> str | None:
    """``allow_credentials`` of the ``Middleware(CORSMiddleware, ...)`` calls that set it."""
    found = sorted({ast.unparse(keyword.value) for node in ast.walk(module.tree) if isinstance(node, ast.Call)
                    and node.args and ast.unparse(node.args[0]) == "CORSMiddleware"
                    for keyword in node.keywords if keyword.arg == "allow_credentials"})
    return " | ".join(found) if found else None


def _tracing_default(module: _Module) -> str | None:
    """The test of the ``if`` that writes ``environ["LANGSMITH_TRACING"] = "true"``."""
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.If):
            continue
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(
                    isinstance(target, ast.Subscript) and module._environ(target.value)
                    and _literal(target.slice) == TRACING_VARIABLE for target in statement.targets):
                return ast.unparse(node.test)
    return None


def _sdk_requirement(metadata: str) -> str:
    for value in HeaderParser().parsestr(metadata).get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(value)
        except InvalidRequirement:
            continue
        if requirement.name == "langgraph-sdk":
            return str(requirement.specifier) or "any"
    return ""


def scan_wheel(path: Path, version: str, sha256: str | None = None) -> Release:
    """What the wheel at ``path`` reads, and the facts the library relies on."""
    reads: dict[str, set[str]] = defaultdict(set)
    backends: tuple[str, ...] | None = None
    cors: str | None = None
    tracing: str | None = None
    sdk = ""
    with zipfile.ZipFile(path) as wheel:
        for info in sorted(wheel.infolist(), key=lambda item: item.filename):
            if info.filename.endswith(".dist-info/METADATA"):
                sdk = _sdk_requirement(wheel.read(info).decode())
            if not info.filename.endswith(".py"):
                continue
            module = _Module(ast.parse(wheel.read(info), filename=info.filename))
            for name in module.reads():
                reads[name].add(info.filename)
            backends = backends or _accepted_backends(module)
            tracing = tracing or _tracing_default(module)
            if info.filename == SERVER_MODULE:
                cors = _cors_credentials(module)
    return Release(
        version=version, wheel=path.name, sha256=sha256 or _sha256(path),
        reads={name: tuple(sorted(modules)) for name, modules in sorted(reads.items())},
        checkpointer_backends=backends or (), cors_allow_credentials=cors or "", tracing_default=tracing or "",
        requires_langgraph_sdk=sdk,
    )


def generate(versions: Iterable[str], cache: Path, index: str = PYPI_JSON) -> tuple[Release, ...]:
    """The table of ``versions``, from their wheels on PyPI (cached in ``cache``)."""
    wheels = pypi_wheels(versions, index)
    return tuple(sorted((scan_wheel(fetch(wheel, cache), wheel.version, wheel.sha256) for wheel in wheels.values()),
                        key=lambda release: release.parsed))


def changes(releases: tuple[Release, ...]) -> list[str]:
    """Which variables appear and disappear from one release to the next, as lines."""
    lines: list[str] = []
    for before, after in itertools.pairwise(releases):
        added, removed = sorted(set(after.reads) - set(before.reads)), sorted(set(before.reads) - set(after.reads))
        if added or removed:
            lines.append(f"{before.version} → {after.version}: " + "; ".join(
                part for part in (f"+ {', '.join(added)}" if added else "",
                                  f"- {', '.join(removed)}" if removed else "") if part))
    return lines
