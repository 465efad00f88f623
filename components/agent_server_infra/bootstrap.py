"""The database bootstrap for IAM authentication: the SQL that makes the server's IAM user, and the Kubernetes Job
that runs it before either role starts.

RDS lets a user log in with an IAM token once it is a member of ``rds_iam`` (Amazon RDS User Guide, "Creating a
database account using IAM authentication": ``CREATE USER db_userx; GRANT rds_iam TO db_userx;``). The server
then runs its migrations as that user, so it needs to create in the database and its ``public`` schema (Postgres
15 no longer lets every role create there) and to own what an earlier deployment's master user created there.

The Job runs :data:`SCRIPT` with the server's own image (it has Python and psycopg) as the master user, whose URI
comes from a Secret of its own; the statements are idempotent, so a replaced Job runs them again harmlessly.

From :data:`VERSION` 2 the master is always made a member of the IAM user: then the master may act as the owner of
every table the server made (PostgreSQL: a member of the owning role passes the ownership checks), so turning IAM
authentication off, after which the pods log in as the master, keeps the server working. The Job carries its
version as a label, which ``agent-server-infra diff`` reads to tell whether a database may leave IAM.
"""

from __future__ import annotations

BOOTSTRAP_URI = "AGENT_SERVER_BOOTSTRAP_URI"
"""The bootstrap Job's master URI (a Secret of its own, never the server's)."""
IAM_USER = "AGENT_SERVER_IAM_USER"
"""The user the Job creates and the server logs in as."""
VERSION = 2
"""What the script guarantees: 1 the IAM user and its rights; 2 also the master's membership in it."""
VERSION_LABEL = "agent-server/bootstrap-version"

SCRIPT = f'''\
import os

import psycopg
from psycopg import sql

user = sql.Identifier(os.environ["{IAM_USER}"])
with psycopg.connect(os.environ["{BOOTSTRAP_URI}"], autocommit=True) as conn:
    database = sql.Identifier(conn.info.dbname)
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (os.environ["{IAM_USER}"],)).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {{}} WITH LOGIN").format(user))
    conn.execute(sql.SQL("GRANT rds_iam TO {{}}").format(user))
    conn.execute(sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {{}} TO {{}}").format(database, user))
    conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {{}}").format(user))
    owned = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
        "AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        # A sequence a column owns (serial, identity) follows its table; ALTER on it alone is refused.
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
        "AND d.deptype IN ('a', 'i'))").fetchall()
    types = conn.execute(
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') "
        "AND t.typowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)").fetchall()
    # Giving an object away needs membership in the new owner (Postgres: "must be able to SET ROLE"), which
    # CREATEROLE alone does not give the master before Postgres 16; membership also lets the master run the server
    # on the IAM user's tables once IAM authentication is turned off.
    conn.execute(sql.SQL("GRANT {{}} TO current_user").format(user))
    for (relation,) in owned:
        conn.execute(sql.SQL("ALTER TABLE public.{{}} OWNER TO {{}}").format(sql.Identifier(relation), user))
    for (name,) in types:
        conn.execute(sql.SQL("ALTER TYPE public.{{}} OWNER TO {{}}").format(sql.Identifier(name), user))
    print(f"bootstrap: {{os.environ['{IAM_USER}']}} can log in with IAM; moved {{len(owned)}} relations and "
          f"{{len(types)}} types to it")
'''
"""What the Job runs (``python -c``): the IAM user with ``rds_iam``, create rights on the database and on
``public``, the master's membership in it, and ownership of what the master created in ``public`` (tables,
sequences, views and their types)."""
