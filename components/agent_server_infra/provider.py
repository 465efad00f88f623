"""The components as a multi-language Pulumi package: ``pulumi package add`` runs :func:`main` (through
``plugin/__main__.py`` and ``PulumiPlugin.yaml``), and Pulumi's SDK infers the schema from the components' typed
args (``AgentServerArgs`` and the settings TypedDicts). ``agent-server-infra docs`` writes that schema to
``schema.json`` so a change to it shows in review."""

from __future__ import annotations

import json
from typing import Any

from pulumi.provider.experimental import component_provider_host
from pulumi.provider.experimental.component import ComponentProvider

from . import __version__
from .agent_server import AgentServer
from .postgres import Postgres
from .redis import Redis
from .workload import Workload

PACKAGE = "agent-server-infra"
COMPONENTS = [AgentServer, Postgres, Redis, Workload]


def component_provider() -> ComponentProvider:
    """The provider that constructs the components for programs in any Pulumi language."""
    return ComponentProvider(COMPONENTS, PACKAGE, version=__version__)  # type: ignore[arg-type]


def schema() -> dict[str, Any]:
    """The package schema the SDK infers from the components."""
    return json.loads(component_provider().schema or "{}")


def schema_text() -> str:
    """``schema.json`` as checked in: stable key order, one trailing newline."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    component_provider_host(COMPONENTS, PACKAGE, version=__version__)  # type: ignore[arg-type]
