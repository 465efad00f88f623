"""Background runs on a running Agent Server, and what its JSON log says about them (``LOG_JSON=true``).

Small, bounded helpers for the tests that run background runs (split mode, outages, rollouts, stuck runs): every
wait has a timeout and fails with the processes' log tails.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from .agent_server_process import AgentServerProcess
from .servers import PostgresServer, log_tail

TERMINAL = frozenset({"success", "error", "timeout", "interrupted"})


def logs(*processes: AgentServerProcess) -> str:
    return "\n".join(f"--- {p.role} pid {p.pid} ({p.log_path.name}) ---\n{log_tail(p.log_path, 30)}"
                     for p in processes)


def events(process: AgentServerProcess, event: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """The JSON log records of ``process`` whose message starts with ``event`` (of run ``run_id`` when given)."""
    records: list[dict[str, Any]] = []
    for line in process.output().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and str(record.get("event", "")).startswith(event) \
                    and (run_id is None or record.get("run_id") == run_id):
                records.append(record)
    return records


def wait_for(condition: Callable[[], bool], what: str, *, timeout: float,
             alive: tuple[AgentServerProcess, ...] = (), interval: float = 0.5,
             tolerate: tuple[type[Exception], ...] = (OSError,)) -> float:
    """Poll ``condition`` (bounded); fail when it times out or one of ``alive`` exits. Returns the seconds taken.

    An exception of ``tolerate`` raised by ``condition`` (by default a refused or timed-out request, as while a store
    is down) counts as not yet; with ``tolerate=()`` it fails the test at once."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(*tolerate):
            if condition():
                return time.monotonic() - started
        dead = [p for p in alive if not p.alive()]
        if dead:
            pytest.fail(f"{', '.join(p.role for p in dead)} exited while waiting for {what}:\n{logs(*alive)}")
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not after {timeout:.0f}s\n{logs(*alive)}")
        time.sleep(interval)


def new_run(api: AgentServerProcess, assistant: str, payload: dict[str, Any]) -> tuple[str, str]:
    """``(thread_id, run_id)`` of a new background run (``POST /threads/{id}/runs``, which does not wait)."""
    status, thread = api.request("POST", "/threads", {})
    assert status == 200, thread
    status, run = api.request("POST", f"/threads/{thread['thread_id']}/runs",
                              {"assistant_id": assistant, "input": payload})
    assert status == 200, run
    assert run["status"] == "pending", run
    return thread["thread_id"], run["run_id"]


def run_status(api: AgentServerProcess, thread_id: str, run_id: str) -> str:
    status, run = api.request("GET", f"/threads/{thread_id}/runs/{run_id}", timeout=10)
    assert status == 200, run
    return str(run["status"])


def thread_values(api: AgentServerProcess, thread_id: str) -> dict[str, Any]:
    status, state = api.request("GET", f"/threads/{thread_id}/state", timeout=10)
    assert status == 200, state
    return dict(state["values"])


def attempts(postgres: PostgresServer, database: str, run_id: str) -> int | None:
    """The runtime's attempt counter of a run (``retry_counters``, incremented on every claim), read in its
    database; ``None`` before its first claim."""
    with postgres.connect(database) as conn:
        row = conn.execute("SELECT count FROM retry_counters WHERE run_id = %s", (run_id,)).fetchone()
    return None if row is None else int(row[0])
