"""Shared fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import NETWORK


@pytest.fixture
def raw() -> dict[str, Any]:
    """A minimal valid raw config (dev-like)."""
    return {
        "network": NETWORK,
        "postgres": {"instanceClass": "db.t4g.medium"},
        "redis": {"mode": "single"},
        "server": {"image": "registry.example.com/agents:1.2.3", "serverVersion": "0.11.1"},
        "licenseKey": "lic-0123",
    }
