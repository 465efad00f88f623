"""Split mode on the real server: the API role and the queue role as two processes, each with its own env.

The library renders the server's environment once per role (``render_env(..., role="api"|"queue")``, the same
database and password): the API Deployment runs ``uvicorn langgraph_api.server:app`` with ``N_JOBS_PER_WORKER=0``,
the queue Deployment runs ``python -m langgraph_api.queue_entrypoint`` (the image's ``queue_entrypoint.sh``) with
the configured ``nJobsPerWorker``. Here both run on the local TLS Postgres and Redis, langgraph-api 0.11.1 with
the MIT runtime ``langgraph-runtime-pg`` 0.11.1.post1 (``tests/integration/server``). Both render ``PORT`` (8000);
every process here gets a free port in ``PORT`` instead (see :mod:`.agent_server_process`).

What the runtime does, read in its source (``<server venv>/site-packages``) and asserted below:

* a queue worker keeps a Redis key ``lg:run-heartbeat:<run_id>`` alive with TTL ``max(int(2 × heartbeat), 4)``,
  refreshed every ``heartbeat / 2``; the heartbeat is ``LG_BG_JOB_HEARTBEAT`` or langgraph-api's hard-coded
  ``BG_JOB_HEARTBEAT = 120`` (``langgraph_runtime_pg/redis_stream.py:100-119``, ``langgraph_api/config/__init__.py
  :335``). ``LG_BG_JOB_HEARTBEAT`` is the runtime's variable, not one the library renders;
* every queue sweeps ``running`` runs without a heartbeat key back to ``pending`` (``error`` once the retry counter
  reached ``BG_JOB_MAX_RETRIES``) at start-up and then every ``2 × heartbeat`` (``langgraph_runtime_pg/queue.py
  :216-234, 372``, ``ops.py:2283-2309, 3297-3330``): a SIGKILLed worker's run is retried by another queue;
* on SIGTERM the queue cancels its running workers at once and waits at most the hard-coded
  ``SHUTDOWN_GRACE_PERIOD_SECS = 5`` for them, then cancels them again (``asyncio.wait_for``'s timeout) and logs
  "did not finish within grace period" (``langgraph_runtime_pg/queue.py:26, 268-301``).
  ``BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS``, which the library renders, is parsed by langgraph-api's config
  (``config/__init__.py:338``) and used nowhere else. A cancelled worker treats ``CancelledError`` as retriable and
  sets its run back to ``pending`` itself (``langgraph_api/worker.py:69-73, 442-452``); the next claim increments
  ``retry_counters`` and runs attempt 2 (``langgraph_runtime_pg/ops.py:2333-2387``), on any queue.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, LiteralString, cast

import psycopg
import pytest
from psycopg import sql

from agent_server_infra.config import PENDING_RUNS_QUERY, QueueScaleConfig
from agent_server_infra.env import SERVER_PORT
from agent_server_infra.keda import backlog_trigger
from agent_server_infra.workload import probe_paths

from .agent_server_process import AgentServerProcess, start_agent_server, start_queue
from .deployments import Roles, render_roles, server_stack
from .runs import attempts, events, logs, new_run, run_status, thread_values, wait_for
from .servers import PostgresServer, RedisServer, TlsMaterial

GRAPHS = {
    "echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph",
    "slow": f"{Path(__file__).parent / 'graphs' / 'slow.py'}:graph",
}
MOUNT_PREFIX = "/agents"
LIVE, STARTUP = probe_paths(MOUNT_PREFIX)
GRACE_PERIOD = 120
"""``bgJobShutdownGracePeriodSecs``: rendered, and ignored by the MIT runtime (it waits 5 s)."""
#: The runtime's own heartbeat knob (seconds), for the SIGKILL test only: with the fixed 120 s a dead worker's
#: heartbeat key lives 240 s before a sweep may reclaim its run. Not a variable the library renders.
SHORT_HEARTBEAT = {"LG_BG_JOB_HEARTBEAT": "1"}
FIRST_ATTEMPT_SECONDS = 60.0
"""How long the slow graph's first attempt sleeps: far longer than any wait below, so it is still running."""
RETRY_SECONDS = 0.2
RUN_TIMEOUT = 45.0


def _raw() -> dict[str, Any]:
    return server_stack("split", mount_prefix=MOUNT_PREFIX, prefix="it-split:", database=2,
                        bgJobShutdownGracePeriodSecs=GRACE_PERIOD)


@dataclass
class Split:
    roles: Roles
    api: AgentServerProcess
    postgres: PostgresServer
    redis: RedisServer
    ca_cert: Path
    directory: Path

    def queue(self, name: str, *, extra_env: Mapping[str, str] | None = None) -> AgentServerProcess:
        """A queue process with the queue role's env, for a ``with`` block: stopped (terminate → wait → kill) on
        exit."""
        return start_queue(self.roles.queue.env.merged(), graphs=GRAPHS, ca_cert=self.ca_cert,
                           directory=self.directory, name=name, extra_env=extra_env)


@pytest.fixture(scope="module")
def split(
    postgres: PostgresServer,
    redis_tls_server: RedisServer,
    tls_material: TlsMaterial,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Split]:
    """A fresh database and the API role running on it, alone: each test starts (and stops) its own queues."""
    roles = render_roles(_raw(), postgres=postgres, redis=redis_tls_server)
    directory = tmp_path_factory.mktemp("split-mode")
    with start_agent_server(roles.api.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                            directory=directory, log_name="api.log") as api:
        yield Split(roles=roles, api=api, postgres=postgres, redis=redis_tls_server, ca_cert=tls_material.ca_cert,
                    directory=directory)


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


_wait_for = functools.partial(wait_for, interval=0.2, tolerate=())
""":func:`.runs.wait_for` as this module polls: every 0.2 s, and a request that raises fails the test at once (no
process here is meant to refuse or time out one: the database outage below makes a probe answer 500)."""


def _timestamp(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["timestamp"]))


def _heartbeat_ttl(split: Split, run_id: str) -> int:
    """TTL (s) of the run's heartbeat key in the rendered Redis database (the runtime ignores the key prefix)."""
    client = split.redis.client(db=split.roles.queue.stack.config.server.redis_database)
    try:
        ttl: Any = client.ttl(f"lg:run-heartbeat:{run_id}")
    finally:
        client.close()
    return int(ttl)


def _wait_running(split: Split, queue: AgentServerProcess, thread_id: str, run_id: str) -> None:
    """Until ``queue`` has claimed the run and its graph started (its log says so)."""
    _wait_for(lambda: run_status(split.api, thread_id, run_id) == "running"
              and bool(events(queue, "Starting background run", run_id)),
              f"run {run_id} running on the queue", timeout=RUN_TIMEOUT, alive=(split.api, queue))
    time.sleep(0.5)  # the node is in its asyncio.sleep now


@contextlib.contextmanager
def _workload_order(roles: Roles, *, ca_cert: Path, directory: Path) -> Iterator[tuple[AgentServerProcess,
                                                                                       AgentServerProcess]]:
    """``(api, queue)`` started the way the Workload orders them on a first rollout: the queue Deployment depends
    on the API Deployment, so the queue starts once the API's readiness probe passes."""
    with start_agent_server(roles.api.env.merged(), graphs=GRAPHS, ca_cert=ca_cert, directory=directory,
                            log_name="api.log") as api:
        assert api.request("GET", LIVE, prefixed=False) == (200, {"ok": True})  # readiness
        with start_queue(roles.queue.env.merged(), graphs=GRAPHS, ca_cert=ca_cert, directory=directory) as queue:
            yield api, queue


@contextlib.contextmanager
def _logins_blocked(postgres: PostgresServer, user: str) -> Iterator[None]:
    """A database outage for one role: ``NOLOGIN`` and its sessions terminated; restored on exit."""
    role = sql.Identifier(user)
    with postgres.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(role))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))
    try:
        yield
    finally:
        with postgres.connect() as conn:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(role))


# --------------------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------------------


def test_each_role_gets_its_own_env(split: Split) -> None:
    api, queue = split.roles.api.env, split.roles.queue.env
    assert api.plain["N_JOBS_PER_WORKER"] == "0"
    assert queue.plain["N_JOBS_PER_WORKER"] == "2"
    assert api.plain["PORT"] == queue.plain["PORT"] == str(SERVER_PORT)
    assert api.secret == queue.secret  # one database, one role, one password
    assert {k: v for k, v in api.plain.items() if k != "N_JOBS_PER_WORKER"} == \
        {k: v for k, v in queue.plain.items() if k != "N_JOBS_PER_WORKER"}


def test_a_background_run_waits_for_the_queue_role(split: Split) -> None:
    api = split.api
    thread_id, run_id = new_run(api, "echo", {"message": "hi"})
    # Only the API role runs (N_JOBS_PER_WORKER=0): nothing claims the run.
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        assert run_status(api, thread_id, run_id) == "pending"
        time.sleep(0.25)
    assert attempts(split.postgres, split.roles.database, run_id) is None  # never claimed
    assert not events(api, "Starting background run")

    with split.queue("queue-run") as queue:
        took = _wait_for(lambda: run_status(api, thread_id, run_id) == "success", "the run's success",
                         timeout=RUN_TIMEOUT, alive=(api, queue))
        assert thread_values(api, thread_id) == {"message": "echo: hi"}
        assert events(queue, "Starting background run", run_id)
        assert attempts(split.postgres, split.roles.database, run_id) == 1
    assert not events(api, "Starting background run")  # the API never executed it
    print(f"queue started in {queue.startup_seconds:.1f}s, run succeeded {took:.1f}s later")


MIT_RUNTIME_RUNS_TABLE = "runs"
"""The runs table of the runtime under test (``langgraph-runtime-pg``); the licensed runtime's is ``run``."""


def test_the_backlog_trigger_counts_the_runs_an_api_leaves_pending(split: Split) -> None:
    """KEDA's ``postgresql`` trigger, as rendered for ``autoscaling: backlog`` with the query pointed at this
    runtime's table, run over the connection its TriggerAuthentication hands KEDA (the Secret's DATABASE_URI):
    it counts exactly the runs the API queued, and the queue's work brings the count back down."""
    query = PENDING_RUNS_QUERY.replace(" FROM run ", f" FROM {MIT_RUNTIME_RUNS_TABLE} ")
    assert query != PENDING_RUNS_QUERY
    n_jobs = split.roles.queue.stack.config.server.n_jobs_per_worker
    queue = QueueScaleConfig.model_validate({"replicas": 1, "maxReplicas": 4, "autoscaling": "backlog",
                                             "backlog": {"query": query}})
    trigger = backlog_trigger(queue, n_jobs).metadata()
    connection = split.roles.queue.env.secret["DATABASE_URI"]

    def pending() -> int:
        with psycopg.connect(connection) as conn:
            # KEDA runs the configured text as it is; so does this check (not a literal, hence the cast).
            row = conn.execute(sql.SQL(cast(LiteralString, trigger["query"]))).fetchone()
        assert row is not None, "the trigger's query returns a row"
        assert len(row) == 1, "the trigger's query must return one number"
        return int(row[0])

    before = pending()
    assert before == 0, "the earlier tests' runs have all finished"
    created = [new_run(split.api, "echo", {"message": f"backlog {index}"}) for index in range(2 * n_jobs + 1)]
    assert pending() == before + len(created)
    # What KEDA asks of the HPA: one replica per targetQueryValue pending runs, active from the activation value.
    target, activation = float(trigger["targetQueryValue"]), float(trigger["activationTargetQueryValue"])
    assert (target, activation) == (n_jobs, n_jobs)
    assert -(-pending() // target) == 3, "2 × nJobsPerWorker + 1 pending runs want 3 queue replicas"
    assert pending() > activation, "the scaler is active"

    with split.queue("queue-backlog") as queue:
        _wait_for(lambda: all(run_status(split.api, *run) == "success" for run in created), "the backlog drained",
                  timeout=RUN_TIMEOUT, alive=(split.api, queue))
    assert pending() == before


def test_rendered_probes_answer_on_both_roles(split: Split) -> None:
    # The Workload's liveness and readiness probes use `live`, its startup probe `startup`, on the container port
    # named http (PORT).
    live, startup = probe_paths(MOUNT_PREFIX)
    assert live == f"{MOUNT_PREFIX}/ok?check_db=0"
    assert startup == f"{MOUNT_PREFIX}/ok?check_db=1"
    api = split.api
    with split.queue("queue-probes") as queue:
        # The queue's health server bound the PORT it was given (the API got it as --port and PORT).
        assert events(queue, f"Health and metrics server started at http://127.0.0.1:{queue.port}")
        assert queue.port != api.port
        for path in (live, startup):
            assert api.request("GET", path, prefixed=False) == (200, {"ok": True}), path
            assert queue.request("GET", path, prefixed=False) == (200, {"status": "ok"}), path
        # The queue's health server answers at the root as well; it serves no API.
        assert queue.request("GET", "/ok", prefixed=False) == (200, {"status": "ok"})
        assert queue.request("GET", f"{MOUNT_PREFIX}/info", prefixed=False)[0] == 404


def test_only_the_startup_probe_checks_the_database(
    postgres: PostgresServer,
    redis_tls_server: RedisServer,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    """A database outage (own database: it breaks the processes' idle connections): only the startup probe
    (check_db=1) fails; liveness and readiness (check_db=0) stay green, so a failover does not make the kubelet
    restart or unready every pod."""
    roles = render_roles(_raw(), postgres=postgres, redis=redis_tls_server)
    with _workload_order(roles, ca_cert=tls_material.ca_cert, directory=tmp_path) as (api, queue):
        with _logins_blocked(postgres, roles.api.stack.config.postgres.username):
            _wait_for(lambda: queue.request("GET", STARTUP, prefixed=False, timeout=10)[0] == 500,
                      "the queue's startup probe failing", timeout=15, alive=(api, queue))
            assert queue.request("GET", "/ok", prefixed=False, timeout=10)[0] == 500  # the queue's default
            assert api.request("GET", STARTUP, prefixed=False, timeout=10)[0] == 500
            assert queue.request("GET", LIVE, prefixed=False) == (200, {"status": "ok"})
            assert api.request("GET", LIVE, prefixed=False) == (200, {"ok": True})
            assert api.request("GET", "/ok") == (200, {"ok": True})  # the API's default is check_db=0
        for process in (queue, api):
            _wait_for(lambda p=process: p.request("GET", STARTUP, prefixed=False, timeout=10)[0] == 200,
                      f"the {process.role}'s startup probe recovering", timeout=30, alive=(api, queue))
        assert queue.alive()
        assert api.alive()


def test_sigterm_requeues_the_running_run_for_another_queue(split: Split) -> None:
    api = split.api
    assert split.roles.queue.env.plain["BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS"] == str(GRACE_PERIOD)
    with split.queue("queue-sigterm-a") as first:
        thread_id, run_id = new_run(api, "slow", {"sleeps": [FIRST_ATTEMPT_SECONDS, RETRY_SECONDS]})
        _wait_running(split, first, thread_id, run_id)
        # The runtime's fixed heartbeat (120 s): the key's TTL is 2 × 120 s.
        assert 200 < _heartbeat_ttl(split, run_id) <= 240
        started = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        code = first.wait_exit(timeout=30)
        shutdown_seconds = time.monotonic() - started
    # The worker was cancelled at once, not after the rendered grace period (nor after the node's 60 s).
    assert shutdown_seconds < 10, f"{shutdown_seconds:.1f}s\n{logs(first)}"
    assert code == 0, logs(first)
    assert events(first, "Shutting down background workers")
    retried = events(first, "Background run failed, will retry", run_id)
    assert retried, logs(first)
    assert "CancelledError" in retried[0]["event"]
    assert not events(first, "Background workers did not finish within grace period")
    # Requeued by the worker itself (no sweep: the heartbeat key would have lived for minutes).
    assert run_status(api, thread_id, run_id) == "pending"
    assert attempts(split.postgres, split.roles.database, run_id) == 1
    assert _heartbeat_ttl(split, run_id) == -2  # cleared, the key is gone
    assert "attempt" not in thread_values(api, thread_id)

    with split.queue("queue-sigterm-b") as second:
        _wait_for(lambda: run_status(api, thread_id, run_id) == "success", "the retried run's success",
                  timeout=RUN_TIMEOUT, alive=(api, second))
        assert thread_values(api, thread_id) == {"sleeps": [FIRST_ATTEMPT_SECONDS, RETRY_SECONDS], "attempt": 2,
                                                 "pid": second.pid, "slept": RETRY_SECONDS}
        assert attempts(split.postgres, split.roles.database, run_id) == 2
        assert [r["run_attempt"] for r in events(second, "Starting background run", run_id)] == [2]
    print(f"queue exited {shutdown_seconds:.1f}s after SIGTERM (exit {code})")


def test_sigterm_waits_the_runtimes_5s_not_the_rendered_grace_period(split: Split) -> None:
    """A run that ignores its cancellation: the queue waits the runtime's hard-coded 5 s (the library renders
    BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS=120), then cancels it again (``asyncio.wait_for``'s timeout), which this run
    does not ignore: it is set back to ``pending`` like a cooperative one and another queue retries it."""
    api = split.api
    assert split.roles.queue.env.plain["BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS"] == str(GRACE_PERIOD)
    payload = {"sleeps": [FIRST_ATTEMPT_SECONDS, RETRY_SECONDS], "hold_on_cancel": 30.0}
    with split.queue("queue-stubborn-a") as first:
        thread_id, run_id = new_run(api, "slow", payload)
        _wait_running(split, first, thread_id, run_id)
        started = time.monotonic()
        first.proc.send_signal(signal.SIGTERM)
        code = first.wait_exit(timeout=30)
        shutdown_seconds = time.monotonic() - started
    assert code == 0, logs(first)
    gave_up = events(first, "Background workers did not finish within grace period")
    assert [r["timeout"] for r in gave_up] == [5], logs(first)
    [cancelled] = events(first, "Shutting down background workers")
    [retried] = events(first, "Background run failed, will retry", run_id)
    waited = (_timestamp(retried) - _timestamp(cancelled)).total_seconds()
    assert 4.9 <= waited < 6.5, f"{waited:.2f}s\n{logs(first)}"
    assert 5 <= shutdown_seconds < 15, f"{shutdown_seconds:.1f}s\n{logs(first)}"
    assert run_status(api, thread_id, run_id) == "pending"
    assert attempts(split.postgres, split.roles.database, run_id) == 1

    with split.queue("queue-stubborn-b") as second:
        _wait_for(lambda: run_status(api, thread_id, run_id) == "success", "the retried run's success",
                  timeout=RUN_TIMEOUT, alive=(api, second))
        assert thread_values(api, thread_id)["attempt"] == 2
        assert thread_values(api, thread_id)["pid"] == second.pid
        assert not events(second, "Swept stale run")
    print(f"stubborn run: cancelled again {waited:.2f}s after the first cancel; queue exited "
          f"{shutdown_seconds:.1f}s after SIGTERM")


def test_sigkill_leaves_the_run_to_the_next_queue_sweep(split: Split) -> None:
    api = split.api
    with split.queue("queue-sigkill-a", extra_env=SHORT_HEARTBEAT) as first:
        thread_id, run_id = new_run(api, "slow", {"sleeps": [FIRST_ATTEMPT_SECONDS, RETRY_SECONDS]})
        _wait_running(split, first, thread_id, run_id)
        assert 0 < _heartbeat_ttl(split, run_id) <= 4  # max(int(2 × 1 s), 4)
        first.proc.kill()
        assert first.wait_exit(timeout=15) == -signal.SIGKILL
        killed = time.monotonic()
    # Nobody told the database: the run still says running, until a queue sweeps it.
    assert run_status(api, thread_id, run_id) == "running"
    assert attempts(split.postgres, split.roles.database, run_id) == 1

    with split.queue("queue-sigkill-b", extra_env=SHORT_HEARTBEAT) as second:
        _wait_for(lambda: run_status(api, thread_id, run_id) == "success", "the swept run's success",
                  timeout=RUN_TIMEOUT, alive=(api, second))
        recovered = time.monotonic() - killed
        swept = events(second, "Swept stale run", run_id)
        assert [(r["new_status"], r["attempts"]) for r in swept] == [("pending", 1)], logs(second)
        assert thread_values(api, thread_id) == {"sleeps": [FIRST_ATTEMPT_SECONDS, RETRY_SECONDS], "attempt": 2,
                                                 "pid": second.pid, "slept": RETRY_SECONDS}
        assert attempts(split.postgres, split.roles.database, run_id) == 2
    print(f"run recovered {recovered:.1f}s after SIGKILL (new queue took {second.startup_seconds:.1f}s to start)")


def test_workload_order_on_fresh_databases_never_crashes(
    postgres: PostgresServer,
    redis_tls_server: RedisServer,
    tls_material: TlsMaterial,
    tmp_path: Path,
) -> None:
    for attempt in range(3):
        roles = render_roles(_raw(), postgres=postgres, redis=redis_tls_server)  # a fresh, empty database each time
        with _workload_order(roles, ca_cert=tls_material.ca_cert, directory=tmp_path / f"fresh-{attempt}") as (
                api, queue):
            thread_id, run_id = new_run(api, "echo", {"message": f"fresh {attempt}"})
            _wait_for(lambda t=thread_id, r=run_id: run_status(api, t, r) == "success",
                      "a run on the fresh database", timeout=RUN_TIMEOUT, alive=(api, queue))
            time.sleep(1.0)
            for process in (api, queue):
                assert process.alive(), logs(api, queue)
                for path in (LIVE, STARTUP):
                    assert process.request("GET", path, prefixed=False)[0] == 200, (process.role, path)
                assert "UniqueViolation" not in process.output(), logs(process)
            with postgres.connect(roles.database) as conn:
                assert len(conn.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
