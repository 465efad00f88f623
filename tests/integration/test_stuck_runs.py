"""The stuck-runs check's script against the real runtime's tables: it flags a run that stayed ``running`` longer
than its bound since a worker claimed it, and nothing else.

The script (:data:`agent_server_infra.stuck_runs.SCRIPT`) runs with the server environment's Python and psycopg, as
the CronJob runs it with the server image's, on the rendered Secret's ``DATABASE_URI``. The runtime under test is
the MIT one, whose table is ``runs`` (the default query reads the licensed runtime's ``run``), so the query is
pointed at it, as a user of that runtime would set ``server.stuckRuns.query``. A claim sets ``updated_at``
(``langgraph_runtime_pg/ops.py`` ``_claim_next_run``): a run that is still in its graph after the bound is what the
check reports, so the bound must exceed the longest run.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_server_infra.config import STUCK_RUNS_QUERY
from agent_server_infra.stuck_runs import AFTER_SECONDS, EXIT_STUCK, QUERY, SCRIPT

from .agent_server_process import SERVER_PYTHON, AgentServerProcess, start_agent_server, start_queue
from .deployments import Deployment, render_roles, server_stack
from .runs import events, new_run, run_status, wait_for
from .servers import PostgresServer, RedisServer, TlsMaterial

GRAPHS = {
    "echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph",
    "slow": f"{Path(__file__).parent / 'graphs' / 'slow.py'}:graph",
}
MIT_QUERY = STUCK_RUNS_QUERY.replace(" FROM run ", " FROM runs ")
RUNNING_SECONDS = 3.0
"""How long the slow run has been running when the check runs with a bound below it."""


@dataclass
class Server:
    api: AgentServerProcess
    queue: AgentServerProcess
    deployment: Deployment


@pytest.fixture(scope="module")
def server(postgres: PostgresServer, redis_tls_server: RedisServer, tls_material: TlsMaterial,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    roles = render_roles(server_stack("stuck", mount_prefix="/agents", prefix="it-stuck:", database=8),
                         postgres=postgres, redis=redis_tls_server)
    directory = tmp_path_factory.mktemp("stuck-runs")
    processes = [start_agent_server(roles.api.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                                    directory=directory, log_name="api.log")]
    try:
        processes.append(start_queue(roles.queue.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                                     directory=directory))
        yield Server(processes[0], processes[1], roles.queue)
    finally:
        for process in processes:
            process.stop()


def _check(server: Server, after: float) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), **server.deployment.env.secret, AFTER_SECONDS: str(int(after)),
           QUERY: MIT_QUERY}
    return subprocess.run([str(SERVER_PYTHON), "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_run_running_past_the_bound_fails_the_check_and_finished_runs_do_not(server: Server) -> None:
    finished = new_run(server.api, "echo", {"message": "done"})
    wait_for(lambda: run_status(server.api, *finished) == "success", "the echo run's success", timeout=30,
             alive=(server.api, server.queue))
    assert _check(server, 1).returncode == 0

    thread_id, run_id = new_run(server.api, "slow", {"sleeps": [60.0]})
    wait_for(lambda: bool(events(server.queue, "Starting background run", run_id)), "the slow run's claim",
             timeout=30, alive=(server.api, server.queue))
    wait_for(lambda: _check(server, RUNNING_SECONDS).returncode == EXIT_STUCK,
             f"the check flagging a run running for over {RUNNING_SECONDS:.0f}s", timeout=30, interval=1.0,
             alive=(server.api, server.queue))
    flagged = _check(server, RUNNING_SECONDS)
    assert run_status(server.api, thread_id, run_id) == "running"
    assert f"1 run(s) running for more than {RUNNING_SECONDS:.0f} s since their claim: {run_id}" in flagged.stderr
    assert flagged.stdout == ""
    for secret in server.deployment.env.secret.values():
        assert secret not in flagged.stderr

    long_bound = _check(server, 3600)
    assert long_bound.returncode == 0, long_bound.stderr
    assert "no run running for more than 3600 s" in long_bound.stdout
    server.api.request("POST", f"/threads/{thread_id}/runs/{run_id}/cancel", {})
