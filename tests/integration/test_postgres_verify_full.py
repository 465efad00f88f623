"""Postgres TLS that verifies the server: the URI the library renders with a CA bundle (``sslmode=verify-full``,
``sslrootcert``) against the local TLS-only Postgres 15, whose certificate names ``localhost`` and is signed by the
session's throwaway CA (:func:`.servers.make_tls_material`, as the RDS CA signs an instance's certificate).

psycopg (libpq) and the real Agent Server connect with it, with the host given by name; the server is started
with ``SSL_CERT_FILE`` pointing at another CA, so the only way it can trust the database is the bundle the URI
names: asyncpg in ``langgraph-runtime-pg`` (``create_default_context(cafile=sslrootcert)``) and psycopg in the
checkpointer (libpq's ``sslrootcert``). A bundle of the wrong CA is refused by both.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from agent_server_infra.env import PostgresFacts

from .agent_server_process import AgentServerProcess, start_agent_server
from .deployments import Deployment, deploy, generated_password, render, server_stack
from .deployments import postgres_facts as facts_for_postgres
from .deployments import redis_facts as facts_for_redis
from .servers import PostgresServer, RedisServer, TlsMaterial, make_tls_material

GRAPHS = {"echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph"}
HOSTNAME = "localhost"
"""A name the certificate carries (subjectAltName DNS:localhost), so verify-full checks a host name."""


@dataclasses.dataclass(frozen=True)
class Bundles:
    right: Path
    """The CA that signed the Postgres certificate, copied as the bundle file the Workload mounts."""
    wrong: Path
    """Another throwaway CA: trusts nothing the servers present."""


@pytest.fixture(scope="module")
def bundles(tls_material: TlsMaterial, tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    directory = tmp_path_factory.mktemp("postgres-ca")
    right = directory / "ca-bundle.pem"
    shutil.copyfile(tls_material.ca_cert, right)
    other = make_tls_material(directory / "other")
    return Bundles(right=right, wrong=other.ca_cert)


def verified(postgres: PostgresServer, redis_server: RedisServer, bundle: Path, password: str,
             stack_name: str) -> Deployment:
    """A stack rendered the way ``AgentServer`` renders it with ``postgres.caBundle``: facts with the bundle's path
    (``root_cert``), the Postgres reached by host name. Redis is plain TCP, so no other TLS trust is involved."""
    raw = server_stack(stack_name, mount_prefix="/agents", prefix=f"{stack_name}:", database=2)
    plain = deploy(raw, postgres=postgres, redis=redis_server, password=password, role="queue")
    facts = dataclasses.replace(facts_for_postgres(postgres, plain.stack, password), host=HOSTNAME,
                                root_cert=str(bundle))
    return render(plain.stack, facts, facts_for_redis(redis_server), role="queue")


def uri(deployment: Deployment) -> str:
    return deployment.env.secret["DATABASE_URI"]


@pytest.fixture(scope="module")
def deployment(postgres: PostgresServer, redis_server: RedisServer, bundles: Bundles) -> Deployment:
    return verified(postgres, redis_server, bundles.right, generated_password(), "verified")


@pytest.fixture(scope="module")
def booted(deployment: Deployment, bundles: Bundles,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentServerProcess]:
    with start_agent_server(deployment.env.merged(), graphs=GRAPHS, ca_cert=bundles.wrong,
                            directory=tmp_path_factory.mktemp("verify-full")) as server:
        yield server


def ssl_sessions(postgres: PostgresServer, user: str) -> list[tuple[Any, ...]]:
    with postgres.connect() as conn:
        return conn.execute("SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                            "WHERE a.usename = %s", (user,)).fetchall()


def test_the_rendered_uri_verifies_the_server(deployment: Deployment, bundles: Bundles) -> None:
    parts = urlsplit(uri(deployment))
    assert parts.hostname == HOSTNAME
    assert parse_qs(parts.query) == {"sslmode": ["verify-full"], "sslrootcert": [str(bundles.right)]}


def test_psycopg_connects_and_checks_the_certificate(deployment: Deployment) -> None:
    with psycopg.connect(uri(deployment), connect_timeout=10) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)


def test_psycopg_refuses_a_server_the_bundle_did_not_sign(postgres: PostgresServer, redis_server: RedisServer,
                                                          bundles: Bundles) -> None:
    wrong = verified(postgres, redis_server, bundles.wrong, generated_password(), "wrongca")
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(uri(wrong), connect_timeout=10)


def test_the_agent_server_connects_and_runs_over_verified_tls(booted: AgentServerProcess, deployment: Deployment,
                                                              postgres: PostgresServer) -> None:
    status, thread = booted.request("POST", "/threads", {})
    assert status == 200, thread
    status, result = booted.request("POST", f"/threads/{thread['thread_id']}/runs/wait",
                                    {"assistant_id": "echo", "input": {"message": "verified"}}, timeout=60)
    assert (status, result) == (200, {"message": "echo: verified"})
    sessions = ssl_sessions(postgres, deployment.stack.config.postgres.username)
    assert sessions, "the server holds connections to its database"
    assert all(ssl for ssl, _version in sessions), sessions


def test_the_agent_server_refuses_a_server_the_bundle_did_not_sign(
        postgres: PostgresServer, redis_server: RedisServer, bundles: Bundles, tmp_path: Path) -> None:
    wrong = verified(postgres, redis_server, bundles.wrong, generated_password(), "wrongsrv")
    server = start_agent_server(wrong.env.merged(), graphs=GRAPHS, ca_cert=bundles.wrong, directory=tmp_path,
                                wait_ready=False)
    code = server.wait_exit()
    output = server.output()
    assert code != 0, output[-2000:]
    assert "CERTIFICATE_VERIFY_FAILED" in output or "certificate verify failed" in output, output[-2000:]


def test_render_keeps_require_without_a_bundle(deployment: Deployment, postgres: PostgresServer,
                                               redis_server: RedisServer) -> None:
    facts = PostgresFacts(host=HOSTNAME, port=postgres.port, database="d", user="u", password="p")
    plain = render(deployment.stack, facts, facts_for_redis(redis_server), role="queue")
    assert parse_qs(urlsplit(uri(plain)).query) == {"sslmode": ["require"]}
