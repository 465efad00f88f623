"""The IAM-authentication bootstrap against the real Postgres 15: the SQL the bootstrap Job runs gives the server's
IAM user what the server needs, on a fresh database and on one an earlier deployment's master user migrated.

What stands in for RDS (no local Postgres verifies IAM tokens):

* ``rds_iam`` is a ``NOLOGIN`` role the superuser creates, as RDS has it; the master user is a non-superuser that
  owns the database and may grant ``rds_iam`` (on RDS it is in ``rds_superuser``);
* the token the server (≥ 0.12) would mint for its passwordless URI is a password this test sets on the IAM user
  and hands the server as ``PGPASSWORD``, which libpq and asyncpg read when a URI has none. The 0.11.1 server
  under test does not read ``AGENT_POSTGRES_IAM_AUTH_PROVIDER``: what is proven is the URI and the privileges.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from agent_server_infra.bootstrap import BOOTSTRAP_URI, IAM_USER, SCRIPT
from agent_server_infra.env import postgres_uri

from .agent_server_process import SERVER_PYTHON, AgentServerProcess, start_agent_server
from .deployments import Deployment, deploy, generated_password, render, server_stack, unique_name
from .deployments import postgres_facts as facts_for_postgres
from .deployments import redis_facts as facts_for_redis
from .servers import PostgresServer, RedisServer, TlsMaterial

GRAPHS = {"echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph"}


@pytest.fixture(scope="module")
def rds_iam(postgres: PostgresServer) -> str:
    """RDS's built-in ``rds_iam`` role, created once per server."""
    with postgres.connect() as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone() is None:
            conn.execute("CREATE ROLE rds_iam NOLOGIN")
    return "rds_iam"


def _master(postgres: PostgresServer, stem: str, redis: RedisServer) -> tuple[Deployment, str]:
    """A database owned by a master user that may create roles and grant rds_iam, like RDS's."""
    password = generated_password()
    master = deploy(server_stack(stem, mount_prefix="/iam", prefix=f"it-{stem}:", database=3),
                    postgres=postgres, redis=redis, password=password, role="queue")
    with postgres.connect() as conn:
        role = sql.Identifier(master.stack.config.postgres.username)
        conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(role))
        conn.execute(sql.SQL("GRANT rds_iam TO {} WITH ADMIN OPTION").format(role))
    return master, password


def _bootstrap(postgres: PostgresServer, master: Deployment, password: str, ca_cert: Path, user: str) -> str:
    """Run the Job's script with the server image's Python (the integration tier's server venv), as the Job does."""
    uri = postgres_uri(facts_for_postgres(postgres, master.stack, password))
    env = {**os.environ, BOOTSTRAP_URI: uri, IAM_USER: user, "PGSSLROOTCERT": str(ca_cert)}
    done = subprocess.run([str(SERVER_PYTHON), "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _iam_deployment(postgres: PostgresServer, master: Deployment, redis: RedisServer, user: str) -> Deployment:
    """The env rendered with IAM authentication: the passwordless URI of the IAM user."""
    iam = replace(facts_for_postgres(postgres, master.stack, ""), user=user, iam=True)
    return render(master.stack, iam, facts_for_redis(redis), role="queue")


def _as_iam_user(postgres: PostgresServer, database: str, user: str, token: str) -> psycopg.Connection[Any]:
    kwargs = postgres.superuser_database.connect_kwargs(dbname=database)
    return psycopg.connect(**{**kwargs, "user": user, "password": token}, autocommit=True)


def _set_token(postgres: PostgresServer, user: str) -> str:
    """The stand-in for an IAM token: a password set on the IAM user."""
    token = generated_password()
    with postgres.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(user), sql.Literal(token)))
    return token


def _boot(deployment: Deployment, token: str, ca_cert: Path, directory: Path) -> AgentServerProcess:
    return start_agent_server(deployment.env.merged(), graphs=GRAPHS, ca_cert=ca_cert, directory=directory,
                              extra_env={"PGPASSWORD": token})


def test_the_bootstrap_makes_an_iam_user_that_runs_the_server_on_a_fresh_database(
        postgres: PostgresServer, redis_tls_server: RedisServer, tls_material: TlsMaterial, rds_iam: str,
        tmp_path: Path) -> None:
    master, password = _master(postgres, "iamfresh", redis_tls_server)
    user = unique_name("iamuser")
    database = master.stack.config.postgres.database_name
    print(_bootstrap(postgres, master, password, tls_material.ca_cert, user))
    _bootstrap(postgres, master, password, tls_material.ca_cert, user)  # idempotent: a replaced Job runs it again
    with postgres.connect(database) as conn:
        row = conn.execute("SELECT rolcanlogin, pg_has_role(rolname, 'rds_iam', 'MEMBER'), rolsuper, rolcreaterole "
                           "FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
    assert row == (True, True, False, False), "a login user in rds_iam, nothing more"

    iam = _iam_deployment(postgres, master, redis_tls_server, user)
    uri = iam.env.secret["DATABASE_URI"]
    assert uri.startswith(f"postgresql://{user}@")
    assert uri.endswith("?sslmode=require")
    token = _set_token(postgres, user)
    with _boot(iam, token, tls_material.ca_cert, tmp_path) as server:
        assert server.request("GET", "/ok?check_db=1")[0] == 200
        status, thread = server.request("POST", "/threads", {})
        assert status == 200, thread
    with postgres.connect(database) as conn:
        owners = {owner for (owner,) in conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()}
    assert owners == {user}, "the server's migrations ran as the IAM user"


def test_the_bootstrap_hands_a_migrated_database_to_the_iam_user(
        postgres: PostgresServer, redis_tls_server: RedisServer, tls_material: TlsMaterial, rds_iam: str,
        tmp_path: Path) -> None:
    master, password = _master(postgres, "iammigrated", redis_tls_server)
    user = unique_name("iamuser")
    database = master.stack.config.postgres.database_name
    with start_agent_server(master.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                            directory=tmp_path / "master", log_name="master.log") as before:
        status, thread = before.request("POST", "/threads", {})
        assert status == 200, thread

    output = _bootstrap(postgres, master, password, tls_material.ca_cert, user)
    assert "moved" in output
    with postgres.connect(database) as conn:
        left = conn.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) <> %s",
                            (user,)).fetchall()
    assert left == [], "every relation of public moved to the IAM user"

    token = _set_token(postgres, user)
    with _boot(_iam_deployment(postgres, master, redis_tls_server, user), token, tls_material.ca_cert,
               tmp_path / "iam") as server:
        status, found = server.request("GET", f"/threads/{thread['thread_id']}")
        assert status == 200, found
        status, created = server.request("POST", "/threads", {})
        assert status == 200, created
    with _as_iam_user(postgres, database, user, token) as conn:
        assert conn.execute("SELECT count(*) FROM threads").fetchone() == (2,)


def test_turning_iam_off_hands_a_database_born_with_iam_back_to_the_master(
        postgres: PostgresServer, redis_tls_server: RedisServer, tls_material: TlsMaterial, rds_iam: str,
        tmp_path: Path) -> None:
    """A database the server first migrated as its IAM user: once IAM authentication is off the pods log in as the
    master, which the bootstrap made a member of the IAM user, so the server reads and writes the IAM user's tables.
    Without that membership (what the bootstrap before version 2 left on such a database) the master is refused."""
    master, password = _master(postgres, "iamoff", redis_tls_server)
    user = unique_name("iamuser")
    database = master.stack.config.postgres.database_name
    _bootstrap(postgres, master, password, tls_material.ca_cert, user)
    token = _set_token(postgres, user)
    with _boot(_iam_deployment(postgres, master, redis_tls_server, user), token, tls_material.ca_cert,
               tmp_path / "iam") as server:
        status, thread = server.request("POST", "/threads", {})
        assert status == 200, thread

    master_role = master.stack.config.postgres.username
    as_master = {**postgres.superuser_database.connect_kwargs(dbname=database), "user": master_role,
                 "password": password}
    with psycopg.connect(**as_master, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(user), sql.Identifier(master_role)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM threads")
    _bootstrap(postgres, master, password, tls_material.ca_cert, user)  # this version's Job, run again

    with start_agent_server(master.env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert,
                            directory=tmp_path / "master", log_name="master.log") as after:
        status, found = after.request("GET", f"/threads/{thread['thread_id']}")
        assert status == 200, found
        status, created = after.request("POST", "/threads", {})
        assert status == 200, created
    with psycopg.connect(**as_master, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM threads").fetchone() == (2,)
