"""Markdown reports of plans (filled in by the PR-report work)."""

from __future__ import annotations

from typing import Any


def plan_markdown(document: dict[str, Any]) -> str:
    raise NotImplementedError
