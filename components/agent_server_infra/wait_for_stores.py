"""The init container both roles start with: wait, bounded, until Postgres and Redis answer.

Without it a pod scheduled while a store is down starts the server, which exits within seconds (its start-up opens
the database pool and runs the migrations), and the kubelet restarts it with its back-off (10 s, 20 s, 40 s, ...,
at most 5 minutes): after a 90 s outage such a pod comes up about 76 s late, in CrashLoopBackOff meanwhile. The init
container instead polls every :data:`POLL_SECONDS` and lets the server start within a poll of the stores' return.

What "answers" means, with no credential needed (so RDS IAM authentication and a wrong password are not mistaken
for an outage: the server reports those itself at once):

* Postgres: libpq's ``PQping`` (what ``pg_isready`` runs), through psycopg's ``pq.PGconn.ping``: ``OK`` once the
  server accepts connections; ``REJECT`` (starting up, shutting down, in recovery) and ``NO_RESPONSE`` mean wait;
  ``NO_ATTEMPT`` (an unusable URI) exits at once;
* Redis: ``PING`` with redis-py over the URI (TLS and AUTH as the server uses them); any reply is an answer
  (``NOAUTH``/``WRONGPASS`` included), except ``LOADING`` (a node still loading its data), which means wait.

The script runs with the server image's own Python (it has psycopg and redis-py: the runtime uses both), reads the
URIs from the Secret through ``envFrom`` (never from its arguments) and prints host and port, never a URI.
"""

from __future__ import annotations

from .env import postgres_uri_name, redis_uri_name

WAIT_SECONDS = "AGENT_SERVER_WAIT_SECONDS"
"""The init container's bound in seconds (a plain variable of its own, set by the Workload)."""
POLL_SECONDS = 1.0
ATTEMPT_SECONDS = 5
"""Each probe's own connect and read timeout: a store behind a dropped route (no reset) costs 5 s per poll."""
EXIT_GAVE_UP = 1
EXIT_UNUSABLE = 2

SCRIPT = f'''\
import os
import sys
import time
from urllib.parse import urlsplit

import redis
from psycopg import pq
from psycopg.conninfo import make_conninfo
from redis.backoff import NoBackoff
from redis.retry import Retry


def where(uri):
    parts = urlsplit(uri)
    return f"{{parts.hostname}}:{{parts.port}}"


def postgres(uri):
    state = pq.PGconn.ping(make_conninfo(uri, connect_timeout={ATTEMPT_SECONDS}).encode())
    if state == pq.Ping.NO_ATTEMPT:
        print("wait-for-stores: the Postgres URI is not a usable connection string", file=sys.stderr)
        sys.exit({EXIT_UNUSABLE})
    return None if state == pq.Ping.OK else pq.Ping(state).name


def redis_(uri):
    client = redis.Redis.from_url(uri, socket_connect_timeout={ATTEMPT_SECONDS}, socket_timeout={ATTEMPT_SECONDS},
                                  retry=Retry(NoBackoff(), 0))
    try:
        client.ping()
    except redis.AuthenticationError:
        return None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return type(exc).__name__
    except redis.ResponseError:
        return None
    finally:
        client.close()
    return None


started = time.monotonic()
deadline = started + float(os.environ["{WAIT_SECONDS}"])
waiting = {{"Postgres": (postgres, os.environ["{postgres_uri_name("standalone")}"]),
           "Redis": (redis_, os.environ["{redis_uri_name("standalone")}"])}}
problems = {{}}
while True:
    for name, (check, uri) in list(waiting.items()):
        problem = check(uri)
        if problem is None:
            print(f"wait-for-stores: {{name}} at {{where(uri)}} answers after {{time.monotonic() - started:.1f}} s",
                  flush=True)
            del waiting[name]
        else:
            problems[name] = problem
    if not waiting:
        sys.exit(0)
    if time.monotonic() >= deadline:
        late = ", ".join(f"{{name}} at {{where(uri)}} ({{problems[name]}})" for name, (_, uri) in waiting.items())
        print(f"wait-for-stores: gave up after {{time.monotonic() - started:.0f}} s: {{late}}", file=sys.stderr)
        sys.exit({EXIT_GAVE_UP})
    time.sleep({POLL_SECONDS})
'''
"""What the init container runs (``python -c``)."""
