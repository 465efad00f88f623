"""What each verified ``langgraph-api`` release reads: the checked-in table ``releases.json``.

The table is generated from the releases' wheels on PyPI by ``agent-server-infra releases --write``
(:mod:`agent_server_infra.release_scan`), never typed by hand; a test regenerates it and fails when table and
wheels disagree. For each release it holds the environment variables the wheel's Python reads (with the modules
that read each one) and the facts this library relies on: the checkpointer backends its config parser accepts,
what its CORS middleware is told about credentials, when it turns LangSmith tracing on by itself and the
``langgraph-sdk`` it allows. :mod:`agent_server_infra.release_checks` holds the env table and the rules against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from .versions import parse_version

PACKAGE = "langgraph-api"
TABLE_PATH = Path(__file__).with_name("releases.json")


@dataclass(frozen=True)
class Release:
    """One release as its wheel shows it."""

    version: str
    wheel: str
    """The wheel's file name on PyPI."""
    sha256: str
    """The wheel's digest as PyPI lists it (checked when the wheel is downloaded)."""
    reads: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each environment variable the wheel's Python reads → the modules (paths in the wheel) that read it."""
    checkpointer_backends: tuple[str, ...] = ()
    """The values of ``LS_DEFAULT_CHECKPOINTER_BACKEND`` its config parser accepts (anything else: start-up fails)."""
    cors_allow_credentials: str = ""
    """What ``langgraph_api/server.py`` passes Starlette's CORSMiddleware as ``allow_credentials`` (source text)."""
    tracing_default: str = ""
    """The condition under which ``langgraph_api/config`` sets ``LANGSMITH_TRACING=true`` itself (source text)."""
    requires_langgraph_sdk: str = ""
    """The ``langgraph-sdk`` versions its metadata allows (``Requires-Dist``)."""

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "wheel": self.wheel, "sha256": self.sha256,
            "checkpointer_backends": list(self.checkpointer_backends),
            "cors_allow_credentials": self.cors_allow_credentials, "tracing_default": self.tracing_default,
            "requires_langgraph_sdk": self.requires_langgraph_sdk,
            "reads": {name: list(modules) for name, modules in sorted(self.reads.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Release:
        return cls(
            version=str(data["version"]), wheel=str(data["wheel"]), sha256=str(data["sha256"]),
            reads={str(name): tuple(modules) for name, modules in data["reads"].items()},
            checkpointer_backends=tuple(data["checkpointer_backends"]),
            cors_allow_credentials=str(data["cors_allow_credentials"]), tracing_default=str(data["tracing_default"]),
            requires_langgraph_sdk=str(data["requires_langgraph_sdk"]),
        )


def render_table(releases: tuple[Release, ...]) -> str:
    """The table's file text: stable (same releases → same bytes), oldest release first."""
    ordered = sorted(releases, key=lambda release: release.parsed)
    blocks: list[str] = []
    for release in ordered:
        fields = release.as_dict()
        reads = fields.pop("reads")
        lines = [f"   {json.dumps(key)}: {json.dumps(value)}" for key, value in fields.items()]
        lines.append('   "reads": {\n' + ",\n".join(f"    {json.dumps(name)}: {json.dumps(modules)}"
                                               for name, modules in reads.items()) + "\n   }")
        blocks.append("  {\n" + ",\n".join(lines) + "\n  }")
    return (f'{{\n "package": {json.dumps(PACKAGE)},\n "generated_by": "agent-server-infra releases --write",\n'
            f' "releases": [\n' + ",\n".join(blocks) + "\n ]\n}\n")


def parse_table(text: str) -> tuple[Release, ...]:
    document = json.loads(text)
    return tuple(sorted((Release.from_dict(item) for item in document["releases"]), key=lambda r: r.parsed))


@cache
def verified() -> tuple[Release, ...]:
    """The checked-in table, oldest release first."""
    return parse_table(TABLE_PATH.read_text())


def verified_versions() -> tuple[str, ...]:
    return tuple(release.version for release in verified())


def newest_verified() -> str:
    """The newest release the env table was verified against."""
    return verified()[-1].version


def newer_than_verified(version: str) -> bool:
    """Whether ``version`` is beyond the newest verified release (what it reads is unknown to this library); a
    version PEP 440 cannot parse compares by its release numbers."""
    try:
        return Version(version) > Version(newest_verified())
    except InvalidVersion:
        return parse_version(version) > parse_version(newest_verified())
