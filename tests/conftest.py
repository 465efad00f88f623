"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import NETWORK, ROOT


@pytest.fixture
def raw() -> dict[str, Any]:
    """A minimal valid raw config (dev-like)."""
    return {
        "network": NETWORK,
        "postgres": {"instanceClass": "db.t4g.medium"},
        "redis": {"mode": "single"},
        "server": {"image": "registry.example.com/agents:1.2.3", "serverVersion": "0.16.7"},
        "licenseKey": "lic-0123",
    }


@pytest.fixture(scope="session")
def planned() -> Callable[[str], Recording]:
    """Each shipped stack run once through __main__.py under the mock engine, shared by the tiers."""
    cache: dict[str, Recording] = {}

    def get(stack: str) -> Recording:
        if stack not in cache:
            cache[stack] = plan_stack(str(ROOT / "stacks" / f"Pulumi.{stack}.yaml"))
        return cache[stack]

    return get
