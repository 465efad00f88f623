"""The stuck-runs check: what its CronJob runs (``server.stuckRuns``).

A queue pod whose database connection went to a dead host keeps its probes green (they never read the checkpoint
pool) while every run it holds stays ``running``: the checkpointer serializes the process's queries on one lock,
and the kernel keeps the dead connection for ``tcp_retries2``'s timeout (924.6 s by default). The server's own
metrics count runs by status but do not age them, and CloudWatch cannot read Postgres rows, so the check runs the
one query that can tell, where the data is: runs a worker claimed more than ``afterSeconds`` ago and still
``running``. It exits 1 naming them (the Job fails: kube-state-metrics ``kube_job_status_failed``, which the usual
alert rules watch), 0 otherwise.

It runs with the server image's Python and psycopg, logs in with the URI of the server's Secret (``envFrom``), and
takes its query and bound from plain variables of its own; it prints run ids, never the URI.
"""

from __future__ import annotations

from .env import postgres_uri_name

AFTER_SECONDS = "AGENT_SERVER_STUCK_AFTER_SECONDS"
QUERY = "AGENT_SERVER_STUCK_RUNS_QUERY"
EXIT_STUCK = 1
SHOWN = 20
"""Run ids the failure message names (the query returns up to 100)."""
CONNECT_TIMEOUT = 10

SCRIPT = f'''\
import os
import sys

import psycopg

after = int(os.environ["{AFTER_SECONDS}"])
with psycopg.connect(os.environ["{postgres_uri_name("standalone")}"], connect_timeout={CONNECT_TIMEOUT},
                     autocommit=True) as conn:
    rows = conn.execute(os.environ["{QUERY}"], {{"after_seconds": after}}).fetchall()
if rows:
    shown = ", ".join(str(row[0]) for row in rows[:{SHOWN}])
    print(f"stuck-runs: {{len(rows)}} run(s) running for more than {{after}} s since their claim: {{shown}}",
          file=sys.stderr)
    sys.exit({EXIT_STUCK})
print(f"stuck-runs: no run running for more than {{after}} s")
'''
"""What the CronJob's container runs (``python -c``)."""
