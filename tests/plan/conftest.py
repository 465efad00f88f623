"""Plans of the shipped stacks and of modified copies, each run once per session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT


class Replace(dict[str, Any]):
    """A config section that replaces the shipped one instead of being merged into it."""


Changes = dict[str, Any]
"""Per config key (``postgres``, ``server``, ...): the values to set in that section of the shipped stack file
(a value of ``None`` removes the key), a :class:`Replace` for a whole new section, or a plain value (a secret's
``{"secure": ...}``)."""

PlanDocument = Callable[..., dict[str, Any]]


def write_modified_stack(directory: Path, stack: str, changes: Changes) -> Path:
    """A copy of ``stacks/Pulumi.<stack>.yaml`` with ``changes`` applied, written into ``directory``."""
    document = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    config = document["config"]
    for key, values in changes.items():
        full = f"agent-server:{key}"
        if isinstance(values, Replace) or not isinstance(values, dict) or "secure" in values:
            config[full] = dict(values) if isinstance(values, dict) else values
            continue
        section = config.setdefault(full, {})
        for name, value in values.items():
            if value is None:
                section.pop(name, None)
            else:
                section[name] = value
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


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
