"""The wait-for-stores init container's script against real stores: it runs with a store down, then up.

The script (:data:`agent_server_infra.wait_for_stores.SCRIPT`) runs with the server environment's Python, as the
init container runs it with the server image's, on the environment the Workload gives it: the rendered Secret's
URIs (TLS Postgres, TLS Redis with a hostile AUTH token) and its bound. ``SSL_CERT_FILE`` makes it trust the
throwaway CA, as the server harness does (see :mod:`.agent_server_process`). The stores are this module's own,
since the tests stop them. Every wait is bounded: the script's own bound, and ``subprocess`` timeouts above it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from agent_server_infra.wait_for_stores import EXIT_GAVE_UP, POLL_SECONDS, SCRIPT, WAIT_SECONDS

from .agent_server_process import SERVER_PYTHON, logging_config
from .deployments import Deployment, deploy, generated_password, render, server_stack
from .deployments import postgres_facts as facts_for_postgres
from .deployments import redis_facts as facts_for_redis
from .servers import PostgresServer, RedisServer, TlsMaterial, hostile_secret, start_postgres, start_redis

OUTAGE_SECONDS = 4.0
"""How long a store stays down under a waiting script: a few of its polls."""
RETURN_SECONDS = POLL_SECONDS + 3.0
"""From a store's return to the script's exit: one poll, plus the interpreter exiting on a busy CI machine."""
PROCESS_TIMEOUT = 60.0


@dataclass
class Stores:
    postgres: PostgresServer
    redis: RedisServer
    deployment: Deployment
    ca_cert: Path


@pytest.fixture(scope="module")
def stores(tls_material: TlsMaterial) -> Iterator[Stores]:
    logging_config()  # fails with the install hint when the server environment is missing
    postgres = start_postgres(tls=tls_material)
    redis = start_redis(tls=tls_material, password=hostile_secret(), name="redis-wait")
    try:
        deployment = deploy(server_stack("wait", mount_prefix="/agents", prefix="it-wait:", database=5),
                            postgres=postgres, redis=redis, password=generated_password(), role="queue")
        yield Stores(postgres, redis, deployment, tls_material.ca_cert)
    finally:
        redis.stop()
        postgres.stop()


def _environment(stores: Stores, bound: float, deployment: Deployment | None = None) -> dict[str, str]:
    """The init container's environment: the server's (ConfigMap and Secret) plus its bound."""
    rendered = (deployment or stores.deployment).env.merged()
    return {"PATH": os.environ.get("PATH", ""), **rendered, WAIT_SECONDS: str(bound),
            "SSL_CERT_FILE": str(stores.ca_cert)}


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SERVER_PYTHON), "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the script ran past {PROCESS_TIMEOUT:.0f}s:\n{out}\n{err}")
    return process.returncode, out, err


def test_with_both_stores_up_it_passes_at_once(stores: Stores) -> None:
    started = time.monotonic()
    code, out, err = _finish(_start(_environment(stores, 30)))
    took = time.monotonic() - started
    assert code == 0, err
    assert f"Postgres at 127.0.0.1:{stores.postgres.port} answers" in out
    assert f"Redis at 127.0.0.1:{stores.redis.port} answers" in out
    assert took < 15, f"{took:.1f}s"
    print(f"both stores up: the init container exits 0 after {took:.1f}s (interpreter and imports included)")


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_it_waits_through_an_outage_and_exits_within_a_poll_of_the_return(stores: Stores, store: str) -> None:
    server = stores.postgres if store == "postgres" else stores.redis
    server.halt()
    try:
        process = _start(_environment(stores, 60))
        time.sleep(OUTAGE_SECONDS)
        assert process.poll() is None, "the script must still be waiting while the store is down"
    finally:
        server.resume()
    back = time.monotonic()
    code, out, err = _finish(process)
    after_return = time.monotonic() - back
    assert code == 0, err
    name = "Postgres" if store == "postgres" else "Redis"
    [line] = [line for line in out.splitlines() if line.startswith(f"wait-for-stores: {name} at ")]
    waited = float(line.split(" answers after ")[1].removesuffix(" s"))
    assert waited >= POLL_SECONDS, line  # its first check failed: it polled again (it was still running above)
    assert after_return < RETURN_SECONDS, f"{after_return:.1f}s"
    print(f"{name} down {OUTAGE_SECONDS:.0f}s: the script waited {waited:.1f}s and exited {after_return:.1f}s "
          "after the store came back")


def test_it_gives_up_after_its_bound_naming_each_store_and_no_secret(stores: Stores) -> None:
    bound = 2.0
    stores.postgres.halt()
    stores.redis.halt()
    try:
        started = time.monotonic()
        code, out, err = _finish(_start(_environment(stores, bound)))
        took = time.monotonic() - started
    finally:
        stores.postgres.resume()
        stores.redis.resume()
    assert code == EXIT_GAVE_UP, (out, err)
    assert f"gave up after {bound:.0f} s: Postgres at 127.0.0.1:{stores.postgres.port} (NO_RESPONSE), " \
           f"Redis at 127.0.0.1:{stores.redis.port} (ConnectionError)" in err
    assert bound <= took < bound + 15, f"{took:.1f}s"
    for secret in (stores.redis.password, *stores.deployment.env.secret.values()):
        assert secret not in out + err


def test_a_wrong_password_is_an_answer_not_an_outage(stores: Stores) -> None:
    """The server reports bad credentials itself, at once; the init container must not wait its bound for them
    (nor need them: RDS IAM authentication has no password in the URI)."""
    stack = stores.deployment.stack
    redis = facts_for_redis(stores.redis)
    wrong_redis = replace(redis, token=(redis.token or "") + "x")
    wrong = render(stack, facts_for_postgres(stores.postgres, stack, "not-the-password"), wrong_redis, role="queue")
    code, out, err = _finish(_start(_environment(stores, 30, wrong)))
    assert code == 0, err
    assert out.count(" answers after ") == 2
