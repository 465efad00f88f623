"""Shared fixtures."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from agent_server_infra.plan.document import dumps, to_document
from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import NETWORK, ROOT, Changes, PlanDocument, write_modified_stack


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


@pytest.fixture(scope="session")
def plan_document(tmp_path_factory: pytest.TempPathFactory,
                  planned: Callable[[str], Recording]) -> PlanDocument:
    """``plan_document(stack, changes=None, show_secrets=False, name=None, program=None)``: the plan document of a
    shipped stack, or of a copy with ``changes`` (planned as the stack ``name``, e.g. a renamed one, and by
    ``program``, a project directory whose ``__main__.py`` and ``Pulumi.yaml`` plan it), as ``plan --json`` writes
    it (round-tripped through JSON). Cached per session."""
    recordings: dict[str, Recording] = {}

    def recording(stack: str, changes: Changes | None, name: str | None, program: Path | None) -> Recording:
        if not changes and name is None and program is None:
            return planned(stack)
        key = json.dumps([stack, name, str(program), {key: [type(value).__name__, value]
                                                       for key, value in (changes or {}).items()}], sort_keys=True)
        if key not in recordings:
            directory = tmp_path_factory.mktemp(f"{stack}-modified")
            source = None
            if program is not None:
                source = program / f"Pulumi.{stack}.yaml"
                (directory / "Pulumi.yaml").write_text((program / "Pulumi.yaml").read_text())
            path = write_modified_stack(directory, stack, changes or {}, name, source=source)
            main = (program or ROOT) / "__main__.py"
            recordings[key] = plan_stack(str(path), program=main)
        return recordings[key]

    def get(stack: str, changes: Changes | None = None, show_secrets: bool = False, name: str | None = None,
            program: Path | None = None) -> dict[str, Any]:
        return json.loads(dumps(to_document(recording(stack, changes, name, program), show_secrets=show_secrets)))

    return get


class _NeverRetrieved(logging.Handler):
    """Keeps what asyncio reports about a future whose exception nobody retrieved."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "never retrieved" in record.getMessage():
            self.reports.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def no_unretrieved_exceptions() -> Iterator[None]:
    """Fail the run when any plan left a future whose exception was never retrieved.

    asyncio reports such a future only when it is collected, which for what the SDK still holds is at interpreter
    exit, after pytest's summary. So at the end of the session the SDK's settings are reset (releasing every output
    it tracked) and every cycle collected while this handler listens; a report fails the session here, with its
    traceback, instead of trailing the summary.
    """
    handler = _NeverRetrieved()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(handler)
    try:
        yield
        pulumi.runtime.reset_options()
        gc.collect()
    finally:
        asyncio_logger.removeHandler(handler)
    assert not handler.reports, f"{len(handler.reports)} unretrieved exception(s), the first:\n{handler.reports[0]}"
