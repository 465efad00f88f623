"""Plans of the shipped stacks and of modified copies, each run once per session."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT, Changes, write_modified_stack

PlanDocument = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def plan_document(tmp_path_factory: pytest.TempPathFactory,
                  planned: Callable[[str], Recording]) -> PlanDocument:
    """``plan_document(stack, changes=None, show_secrets=False)``: the plan document of a shipped stack, or of a
    copy with ``changes``, as ``plan --json`` writes it (round-tripped through JSON). Cached per session."""
    recordings: dict[str, Recording] = {}

    def recording(stack: str, changes: Changes | None) -> Recording:
        if not changes:
            return planned(stack)
        key = json.dumps([stack, {name: [type(value).__name__, value] for name, value in changes.items()}],
                         sort_keys=True)
        if key not in recordings:
            directory = tmp_path_factory.mktemp(f"{stack}-modified")
            path = write_modified_stack(directory, stack, changes)
            recordings[key] = plan_stack(str(path), program=ROOT / "__main__.py")
        return recordings[key]

    def get(stack: str, changes: Changes | None = None, show_secrets: bool = False) -> dict[str, Any]:
        return json.loads(dumps(to_document(recording(stack, changes), show_secrets=show_secrets)))

    return get
