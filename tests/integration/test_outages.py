"""Store outages on the real server, API and queue as the Workload runs them: what keeps working, bounded in time.

Each scenario has its own Postgres 15 and Redis (TLS, as everywhere in this tier), since it stops one of them
(:meth:`~.servers.PostgresServer.halt`: ``pg_ctl stop -m fast``, so every session is closed and new ones refused;
:meth:`~.servers.RedisServer.halt`: SIGTERM, and its keys are gone when it comes back), the API role (``uvicorn``,
``N_JOBS_PER_WORKER=0``) and the queue role (``langgraph_api.queue_entrypoint``) started on the env rendered per
role, langgraph-api 0.11.1 with ``langgraph-runtime-pg`` 0.11.1.post1.

Why the outage lasts :data:`OUTAGE_SECONDS`: the kubelet restarts a container after ``LIVENESS_FAILURE_THRESHOLD``
failed probes ``LIVENESS_PERIOD_SECS`` apart (the Workload's numbers), so an outage longer than period × failures
(60 s) plus one period (whatever the probes' phase) is the shortest that proves the point: a liveness probe that
reads the store would have restarted the pod, the rendered one (``check_db=0``) answers 200 all along. Both probe
paths of both processes are polled every second with the probes' own timeout.

What the runtime does, read in its source (``<server venv>/site-packages``) and asserted below:

* Postgres down: only ``check_db=1`` (the startup probe) fails (``langgraph_runtime_pg/database.py``
  ``healthcheck``: a ``SELECT 1`` when asked); no probe reads Redis;
* a run in flight whose checkpoint write fails is not retried: the error is not retriable (``langgraph_api/
  worker.py``: only ``CancelledError`` and the runtime's ``RetryableException`` are); if the store is still down
  its status cannot be written either, so it stays ``running`` until a queue sweeps it (its heartbeat key gone)
  back to ``pending`` and runs it again (``langgraph_runtime_pg/ops.py`` ``_sweep_single_run``). The heartbeat is
  the runtime's fixed 120 s (a swept run waits about 4 minutes); these tests set the runtime's own
  ``LG_BG_JOB_HEARTBEAT=1`` to sweep within seconds (not a variable the library renders);
* the checkpointer's psycopg pool (``langgraph_runtime_pg/checkpoint.py``: ``AsyncConnectionPool`` with psycopg_pool's
  defaults, no ``check``) replaces a broken connection with an exponential back-off (``psycopg_pool/base.py``
  ``AttemptWithBackoff``: 1 s ± 10 %, doubling) from its first failed use, and a waiting run grows the pool with a
  back-off of its own; a run waits at most 30 s (``getconn``'s timeout) for a connection, then fails with
  ``PoolTimeout``, not retried. The Postgres scenario places the first failed use (the first run's checkpoint
  write) 47 s and the second run's wait 27 s before the store returns: the replacement's next attempt falls
  9.7-22.3 s after the return (its attempt at 56.7-69.3 s), the growth's 0.9-7.1 s after, both within the 30 s a
  pending run waits; the second run's own wait ends 3 s after the return, as ``error`` unless the growth served it
  first (then it carries on and succeeds). Placed otherwise (a return just after an attempt of every series),
  pending runs claimed at the return can wait out their 30 s and fail: the back-off, not a setting of ours, sets
  the recovery time.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent_server_infra.workload import (
    LIVENESS_FAILURE_THRESHOLD,
    LIVENESS_PERIOD_SECS,
    PROBE_TIMEOUT_SECS,
    probe_paths,
)

from .agent_server_process import AgentServerProcess, start_agent_server, start_queue
from .deployments import render_roles, server_stack
from .runs import TERMINAL, attempts, events, logs, new_run, run_status, wait_for
from .servers import PostgresServer, RedisServer, TlsMaterial, hostile_secret, start_postgres, start_redis

GRAPHS = {
    "echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph",
    "slow": f"{Path(__file__).parent / 'graphs' / 'slow.py'}:graph",
}
MOUNT_PREFIX = "/agents"
LIVE, STARTUP = probe_paths(MOUNT_PREFIX)
LIVENESS_WINDOW = LIVENESS_PERIOD_SECS * LIVENESS_FAILURE_THRESHOLD
OUTAGE_SECONDS = LIVENESS_WINDOW + LIVENESS_PERIOD_SECS
"""70 s: the shortest outage in which a store-reading liveness probe fails ``failureThreshold`` times in a row."""
SHORT_HEARTBEAT = {"LG_BG_JOB_HEARTBEAT": "1"}
LEAD_SECONDS = 5.0
"""From the in-flight runs' start to the outage: they are in their graph's sleep by then."""
POSTGRES_FAILED_USE = 47.0
"""Seconds before Postgres returns at which the first in-flight run writes its checkpoint (see the docstring)."""
POSTGRES_SECOND_USE = POSTGRES_FAILED_USE - 20.0
RETRY_SLEEP = 0.2
RECOVERY_TIMEOUT = 90.0
"""After the store returns: the checkpoint pool's next attempt (≤ 22.3 s), a sweep, a retry, with room for CI."""
EXIT_TIMEOUT = 60.0


# --------------------------------------------------------------------------------------------------------------
# harness
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Server:
    """One deployment on its own stores: the API and queue processes and what they were started with."""

    postgres: PostgresServer
    redis: RedisServer
    api: AgentServerProcess
    queue: AgentServerProcess
    queue_env: dict[str, str]
    database: str
    ca_cert: Path
    directory: Path

    @property
    def processes(self) -> tuple[AgentServerProcess, AgentServerProcess]:
        return self.api, self.queue


@contextlib.contextmanager
def _server(tls: TlsMaterial, directory: Path, stem: str) -> Iterator[Server]:
    postgres = start_postgres(tls=tls)
    redis = start_redis(tls=tls, password=hostile_secret(), name=f"redis-{stem}")
    started: list[AgentServerProcess] = []
    try:
        roles = render_roles(server_stack(stem, mount_prefix=MOUNT_PREFIX, prefix=f"it-{stem}:", database=6),
                             postgres=postgres, redis=redis)
        started.append(start_agent_server(roles.api.env.merged(), graphs=GRAPHS, ca_cert=tls.ca_cert,
                                          directory=directory, log_name="api.log"))
        started.append(start_queue(roles.queue.env.merged(), graphs=GRAPHS, ca_cert=tls.ca_cert, directory=directory,
                                   extra_env=SHORT_HEARTBEAT))
        yield Server(postgres, redis, started[0], started[1], roles.queue.env.merged(), roles.database, tls.ca_cert,
                     directory)
    finally:
        for process in started:
            process.stop()
        redis.stop()
        postgres.stop()


class Prober(threading.Thread):
    """Polls both probe paths of each process every second with the probes' timeout, as the kubelet would."""

    def __init__(self, processes: tuple[AgentServerProcess, ...]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.samples: list[tuple[float, str, str, int | str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for process in self.processes:
                for path in (LIVE, STARTUP):
                    try:
                        answer: int | str = process.request("GET", path, prefixed=False,
                                                            timeout=PROBE_TIMEOUT_SECS)[0]
                    except OSError as exc:  # a timeout or a refused connection: a failed probe
                        answer = type(exc).__name__
                    self.samples.append((time.monotonic(), process.role, path, answer))
            self.halt.wait(1.0)

    def between(self, start: float, end: float, role: str, path: str) -> list[tuple[float, int | str]]:
        return [(at, answer) for at, who, where, answer in self.samples
                if start <= at <= end and who == role and where == path]

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=2 * PROBE_TIMEOUT_SECS + 5)


def _span(samples: list[tuple[float, int | str]]) -> float:
    return samples[-1][0] - samples[0][0] if samples else 0.0


def _assert_answers_through_the_outage(prober: Prober, start: float, end: float, role: str, path: str,
                                       expected: int) -> float:
    samples = prober.between(start, end, role, path)
    wrong = [(round(at - start, 1), answer) for at, answer in samples if answer != expected]
    assert not wrong, f"{role} {path} answered {wrong} (seconds into the outage) instead of {expected}"
    span = _span(samples)
    assert span > LIVENESS_WINDOW, (f"{role} {path}: {expected} for {span:.0f}s, not longer than liveness "
                                    f"period × failures = {LIVENESS_PERIOD_SECS} × {LIVENESS_FAILURE_THRESHOLD}")
    return span


def _assert_fails_through_the_outage(prober: Prober, start: float, end: float, role: str, path: str) -> float:
    samples = prober.between(start, end, role, path)
    passed = [round(at - start, 1) for at, answer in samples if answer == 200]
    assert not passed, f"{role} {path} answered 200 at {passed} s into the outage"
    span = _span(samples)
    assert span > LIVENESS_WINDOW, f"{role} {path} failed for {span:.0f}s only"
    return span


def _pod_started_during_the_outage(server: Server) -> tuple[int, float]:
    """A queue pod scheduled while the store is down: the server exits, and how fast."""
    started = time.monotonic()
    late = start_queue(server.queue_env, graphs=GRAPHS, ca_cert=server.ca_cert, directory=server.directory,
                       name="queue-during-outage", wait_ready=False, extra_env=SHORT_HEARTBEAT)
    code = late.wait_exit(timeout=EXIT_TIMEOUT)
    return code, time.monotonic() - started


@dataclass(frozen=True)
class Outcome:
    status: str
    swept: bool
    attempts: int | None


def _outcome(server: Server, thread_id: str, run_id: str) -> Outcome:
    """The run's status, whether a queue swept it, and its attempt counter (``retry_counters``, one per claim),
    read in the database: the API's own checkpoint pool may still hand out a dead connection for state reads."""
    count = attempts(server.postgres, server.database, run_id)
    swept = bool(events(server.queue, "Swept stale run", run_id))
    return Outcome(run_status(server.api, thread_id, run_id), swept, count)


def _assert_none_lost(server: Server, in_flight: list[tuple[str, str]], queued: list[tuple[str, str]],
                      ) -> dict[str, Outcome]:
    """Every run ends: queued ones succeed; one in flight ends ``error``, or is swept and succeeds on attempt 2, or
    (its wait for the checkpoint pool served in time) succeeds on attempt 1."""
    runs = in_flight + queued
    wait_for(lambda: all(run_status(server.api, *run) in TERMINAL for run in runs), "every run ending",
             timeout=RECOVERY_TIMEOUT, alive=server.processes)
    outcomes = {run_id: _outcome(server, thread_id, run_id) for thread_id, run_id in runs}
    for _, run_id in queued:
        assert outcomes[run_id].status == "success", (outcomes[run_id], logs(*server.processes))
    for _, run_id in in_flight:
        outcome = outcomes[run_id]
        assert outcome.status == "error" or (outcome.status == "success" and outcome.attempts == (
            2 if outcome.swept else 1)), (outcome, logs(*server.processes))
    return outcomes


# --------------------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------------------


def test_a_postgres_outage_keeps_the_probes_green_and_loses_no_run(tls_material: TlsMaterial,
                                                                   tmp_path: Path) -> None:
    with _server(tls_material, tmp_path, "pgoutage") as server:
        api, queue = server.processes
        first_sleep = LEAD_SECONDS + OUTAGE_SECONDS - POSTGRES_FAILED_USE
        second_sleep = LEAD_SECONDS + OUTAGE_SECONDS - POSTGRES_SECOND_USE
        in_flight = [new_run(api, "slow", {"sleeps": [first_sleep, RETRY_SLEEP]}),
                     new_run(api, "slow", {"sleeps": [second_sleep, RETRY_SLEEP]})]
        wait_for(lambda: len(events(queue, "Starting background run")) == 2, "both runs running on the queue",
                 timeout=30, alive=server.processes)
        started = time.monotonic()
        queued = [new_run(api, "echo", {"message": f"queued {index}"}) for index in range(2)]
        assert [run_status(api, *run) for run in queued] == ["pending", "pending"]  # both workers are busy
        prober = Prober(server.processes)
        prober.start()
        try:
            time.sleep(max(0.0, LEAD_SECONDS - (time.monotonic() - started)))
            server.postgres.halt()
            down = time.monotonic()
            refused = api.request("POST", "/threads", {}, timeout=PROBE_TIMEOUT_SECS)[0]
            code, exited_after = _pod_started_during_the_outage(server)
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
            resuming = time.monotonic()  # the store may answer before resume() returns: the outage ends here
            server.postgres.resume()
            up = time.monotonic()
            recovered = {process.role: round(wait_for(
                lambda p=process: p.request("GET", STARTUP, prefixed=False, timeout=PROBE_TIMEOUT_SECS)[0] == 200,
                f"the {process.role}'s startup probe after the outage", timeout=30, alive=server.processes), 1)
                for process in server.processes}
        finally:
            prober.stop()
        outcomes = _assert_none_lost(server, in_flight, queued)
        done = time.monotonic() - up

        for role in ("api", "queue"):
            _assert_answers_through_the_outage(prober, down, resuming, role, LIVE, 200)
            _assert_fails_through_the_outage(prober, down + 1, resuming, role, STARTUP)
        assert refused >= 500, "the API refuses new runs while Postgres is down"
        assert code != 0, "a pod started during the outage exits (the kubelet would restart it with back-off)"
        assert exited_after < EXIT_TIMEOUT
        assert any(outcome.swept for outcome in outcomes.values()), "the run that failed mid-outage is swept"
        assert api.alive()
        assert queue.alive()
        in_flight_outcomes = [outcomes[run_id] for _, run_id in in_flight]
        print(f"Postgres down {resuming - down:.0f}s: check_db=0 answered 200 throughout on both roles, check_db=1 "
              f"failed throughout; startup probes back {recovered} s after; a queue started during the outage "
              f"exited {code} after {exited_after:.1f}s; in flight {in_flight_outcomes}; queued runs succeeded; "
              f"every run ended {done:.1f}s after Postgres returned")


def test_a_redis_outage_keeps_every_probe_green_and_loses_no_run(tls_material: TlsMaterial,
                                                                 tmp_path: Path) -> None:
    with _server(tls_material, tmp_path, "redisoutage") as server:
        api, queue = server.processes
        in_flight = [new_run(api, "slow", {"sleeps": [LEAD_SECONDS + 10.0, RETRY_SLEEP]}) for _ in range(2)]
        wait_for(lambda: len(events(queue, "Starting background run")) == 2, "both runs running on the queue",
                 timeout=30, alive=server.processes)
        started = time.monotonic()
        queued = [new_run(api, "echo", {"message": f"queued {index}"}) for index in range(2)]
        prober = Prober(server.processes)
        prober.start()
        try:
            time.sleep(max(0.0, LEAD_SECONDS - (time.monotonic() - started)))
            server.redis.halt()
            down = time.monotonic()
            # The API still takes runs: they live in Postgres; only the queue's wake-up goes through Redis.
            queued.append(new_run(api, "echo", {"message": "created during the outage"}))
            code, exited_after = _pod_started_during_the_outage(server)
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down)))
            resuming = time.monotonic()  # the store may answer before resume() returns: the outage ends here
            server.redis.resume()
            up = time.monotonic()
        finally:
            prober.stop()
        outcomes = _assert_none_lost(server, in_flight, queued)
        done = time.monotonic() - up

        for role in ("api", "queue"):
            for path in (LIVE, STARTUP):  # no probe path reads Redis
                _assert_answers_through_the_outage(prober, down, resuming, role, path, 200)
        assert code != 0, "a pod started during the outage exits (the kubelet would restart it with back-off)"
        assert api.alive()
        assert queue.alive()
        print(f"Redis down {resuming - down:.0f}s: every probe answered 200 on both roles; a queue started during the "
              f"outage exited {code} after {exited_after:.1f}s; in flight "
              f"{[outcomes[run_id] for _, run_id in in_flight]}; queued runs, one created during the outage, "
              f"succeeded; every run ended {done:.1f}s after Redis returned")
