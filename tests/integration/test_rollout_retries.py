"""A rolling update of the queue on the real server: every wave's SIGTERM requeues a running run (attempt + 1), so
``BG_JOB_MAX_RETRIES`` must outlast ⌈maxReplicas / surge⌉ waves.

The stack's queue scales to 3 pods with ``maxSurge`` 1 (``sizing.surge``): a rollout replaces them in 3 waves, and in
the worst case each wave stops the pod running a given run, which a pod of a later wave claims again. Here the
waves are played in that worst case, one queue process per old pod: the next old pod is started (and ready) before
the current one gets SIGTERM, so it is the only queue left to claim the requeued run; the last wave's replacement is
a new pod, which finishes it. The server counts attempts: attempt n fails at once with "Run exceeded max attempts"
when n > BG_JOB_MAX_RETRIES (langgraph-api 0.11.1 ``worker.py``), so 3 interruptions need 4 attempts. The library
derives 4; the server's own default, 3, loses the run.

The slow graph sleeps 60 s on each interrupted attempt (far longer than a wave) and 0.2 s on the last. Bounded: every
queue start, claim and exit has its timeout; a sequence takes about 15 s.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_server_infra import sizing

from .agent_server_process import AgentServerProcess, start_agent_server, start_queue
from .deployments import Deployment, render_roles, server_stack
from .runs import attempts, events, logs, new_run, run_status, wait_for
from .servers import PostgresServer, RedisServer, TlsMaterial

GRAPHS = {"slow": f"{Path(__file__).parent / 'graphs' / 'slow.py'}:graph"}
MOUNT_PREFIX = "/agents"
QUEUE = {"replicas": 1, "maxReplicas": 3}
INTERRUPTED_SLEEP = 60.0
LAST_SLEEP = 0.2
CLAIM_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


@dataclass
class Rollout:
    api: AgentServerProcess
    queue: Deployment
    postgres: PostgresServer
    ca_cert: Path
    directory: Path

    @property
    def database(self) -> str:
        return self.queue.stack.config.postgres.database_name


@pytest.fixture(scope="module")
def rollout(postgres: PostgresServer, redis_tls_server: RedisServer, tls_material: TlsMaterial,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rollout]:
    roles = render_roles(server_stack("rollout", mount_prefix=MOUNT_PREFIX, prefix="it-rollout:", database=7,
                                      queue=QUEUE), postgres=postgres, redis=redis_tls_server)
    directory = tmp_path_factory.mktemp("rollout")
    with start_agent_server(roles.api.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert, directory=directory,
                            log_name="api.log") as process:
        yield Rollout(process, roles.queue, postgres, tls_material.ca_cert, directory)


@contextlib.contextmanager
def _rolled(rollout: Rollout, env: Mapping[str, str], name: str) -> Iterator[tuple[str, str, AgentServerProcess]]:
    """Play the rollout's waves on one run: yields ``(thread_id, run_id, new pod)``, the last queue still running;
    every queue started here is stopped on exit, a failed wave's as well."""
    waves = sizing.rollout_waves(QUEUE["maxReplicas"])
    assert waves == 3
    sleeps = [INTERRUPTED_SLEEP] * waves + [LAST_SLEEP]
    queues: list[AgentServerProcess] = []
    try:
        queues.append(start_queue(env, graphs=GRAPHS, ca_cert=rollout.ca_cert, directory=rollout.directory,
                                  name=f"{name}-old-1"))
        thread_id, run_id = new_run(rollout.api, "slow", {"sleeps": sleeps})
        for wave in range(1, waves + 1):
            current = queues[-1]
            wait_for(lambda q=current, w=wave:
                     [r["run_attempt"] for r in events(q, "Starting background run", run_id)] == [w]
                     and run_status(rollout.api, thread_id, run_id) == "running",
                     f"attempt {wave} running on {current.log_path.name}", timeout=CLAIM_TIMEOUT,
                     alive=(rollout.api, current))
            assert attempts(rollout.postgres, rollout.database, run_id) == wave
            time.sleep(0.5)  # inside the graph's sleep
            successor = "new" if wave == waves else f"old-{wave + 1}"
            queues.append(start_queue(env, graphs=GRAPHS, ca_cert=rollout.ca_cert, directory=rollout.directory,
                                      name=f"{name}-{successor}"))
            current.proc.send_signal(signal.SIGTERM)
            assert current.wait_exit(timeout=EXIT_TIMEOUT) == 0, logs(current)
            [retried] = events(current, "Background run failed, will retry", run_id)
            assert "CancelledError" in retried["event"]
        yield thread_id, run_id, queues[-1]
    finally:
        for queue in queues:
            queue.stop()


def test_the_derived_bg_job_max_retries_outlasts_a_rollout(rollout: Rollout) -> None:
    env = rollout.queue.env.merged()
    assert env["BG_JOB_MAX_RETRIES"] == "4"  # derived: 3 waves + the attempt that finishes
    started = time.monotonic()
    with _rolled(rollout, env, "derived") as (thread_id, run_id, last):
        wait_for(lambda: run_status(rollout.api, thread_id, run_id) == "success", "the run's success on the new pod",
                 timeout=CLAIM_TIMEOUT, alive=(rollout.api, last))
        assert attempts(rollout.postgres, rollout.database, run_id) == 4
        assert [r["run_attempt"] for r in events(last, "Starting background run", run_id)] == [4]
    print(f"3 SIGTERMed waves, run finished on attempt 4 of BG_JOB_MAX_RETRIES=4 ({time.monotonic() - started:.1f}s)")


def test_the_servers_default_of_3_loses_a_run_interrupted_3_times(rollout: Rollout) -> None:
    env = {name: value for name, value in rollout.queue.env.merged().items() if name != "BG_JOB_MAX_RETRIES"}
    with _rolled(rollout, env, "seed") as (thread_id, run_id, last):  # the server's own default applies: 3
        wait_for(lambda: run_status(rollout.api, thread_id, run_id) == "error", "the run's failure on the new pod",
                 timeout=CLAIM_TIMEOUT, alive=(rollout.api, last))
        assert attempts(rollout.postgres, rollout.database, run_id) == 4
        [exceeded] = events(last, "Run exceeded max attempts", run_id)
        assert exceeded["run_attempt"] == 4
        assert not events(last, "Background run succeeded", run_id)
