"""The env table against the seed reference, and render_env: placement, roles, gates and URI encoding."""

from __future__ import annotations

import dataclasses
import json
import re
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_server_infra import env
from agent_server_infra.config import Secrets, ServerConfig
from agent_server_infra.env import PostgresFacts, RedisFacts, postgres_uri, redis_uri, render_env
from agent_server_infra.validate import validate_stack
from tests.helpers import REFERENCE, SHARED_REFERENCE, full_raw

PG = PostgresFacts(host="db.internal", port=5432, database="agents", user="app", password="s3cret")
REDIS = RedisFacts(host="cache.internal", port=6379, token="tok", tls=True, cluster=False)


def reference_names() -> list[str]:
    text = REFERENCE.read_text()
    return re.findall(r"^## `([A-Z0-9_]+)`", text, flags=re.MULTILINE)


def render_full(model: str, role: env.Role = "queue") -> env.RenderedEnv:
    stack = validate_stack(full_raw(model))
    return render_env(stack.config.server, stack.config.secrets, PG, REDIS,
                      pool_max_size=stack.connections.pool_max_size,
                      redis_max_connections=stack.connections.redis_max_connections, role=role)


def test_vendored_reference_matches_the_seed() -> None:
    if not SHARED_REFERENCE.exists():  # outside this workplace (e.g. GitHub): only the copy exists
        assert REFERENCE.exists()
        return
    assert REFERENCE.read_text() == SHARED_REFERENCE.read_text(), "copy the new seed into tests/data/"


def test_reference_file_is_present_and_parsed() -> None:
    names = reference_names()
    assert len(names) >= 20, names
    assert "N_JOBS_PER_WORKER" in names


@pytest.mark.parametrize("name", reference_names())
def test_every_reference_variable_is_in_the_table(name: str) -> None:
    assert name in env.ENV


@pytest.mark.parametrize("name", reference_names())
def test_every_reference_variable_is_rendered_by_a_full_config_of_its_model(name: str) -> None:
    row = env.ENV[name]
    for model in sorted(row.models):
        rendered = render_full(model).merged()
        assert name in rendered, f"{name} missing from a full {model} config"


def test_every_table_row_is_rendered_somewhere() -> None:
    rendered = set(render_full("standalone").merged()) | set(render_full("control-plane").merged())
    stack = validate_stack(full_raw("standalone"))
    iam = render_env(stack.config.server.model_copy(update={"server_version": "0.13.0"}), stack.config.secrets,
                     dataclasses.replace(PG, iam=True), dataclasses.replace(REDIS, user="agents-server"),
                     pool_max_size=10, redis_max_connections=10)
    assert iam.plain["AGENT_POSTGRES_IAM_AUTH_PROVIDER"] == "aws"
    assert iam.plain["AGENT_REDIS_IAM_AUTH_PROVIDER"] == "aws"
    assert set(env.ENV) - rendered - set(iam.merged()) == set()
    assert "AGENT_POSTGRES_IAM_AUTH_PROVIDER" not in rendered, "only with IAM authentication"
    assert "AGENT_REDIS_IAM_AUTH_PROVIDER" not in rendered, "only with IAM authentication"


def test_uri_names_follow_the_deployment_model() -> None:
    standalone = render_full("standalone").secret
    control = render_full("control-plane").secret
    assert {"DATABASE_URI", "REDIS_URI"} <= set(standalone)
    assert not {"POSTGRES_URI_CUSTOM", "REDIS_URI_CUSTOM"} & set(standalone)
    assert {"POSTGRES_URI_CUSTOM", "REDIS_URI_CUSTOM"} <= set(control)
    assert not {"DATABASE_URI", "REDIS_URI"} & set(control)


def test_secrets_and_plain_values_are_split_by_the_table() -> None:
    rendered = render_full("standalone")
    assert set(rendered.plain).isdisjoint(rendered.secret)
    for name in rendered.secret:
        assert env.ENV[name].secret, name
    for name in rendered.plain:
        assert not env.ENV[name].secret, name
    assert "s3cret" not in "".join(rendered.plain.values())
    assert "tok" not in json.dumps(rendered.plain)


def test_rendered_values_follow_config() -> None:
    plain = render_full("standalone").plain
    assert plain["N_JOBS_PER_WORKER"] == "5"
    assert plain["CORS_ALLOW_ORIGINS"] == "https://app.example.com,http://localhost:3000"
    assert json.loads(plain["LS_CHECKPOINT_DELETE"]) == {
        "enabled": True, "enabledWorkerOnly": False, "pollIntervalMs": 5000, "batchSize": 10, "batchSleepMs": 500}
    assert " " not in plain["LS_CHECKPOINT_DELETE"]
    assert plain["LANGSMITH_TRACING"] == "false"
    assert plain["LOG_JSON"] == "true"
    assert plain["MOUNT_PREFIX"] == "/agents"
    assert plain["REDIS_KEY_PREFIX"] == "team-a:"
    assert plain["BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS"] == "240"
    assert plain["LS_APM_OTEL_ENABLED"] == "true"
    assert plain["DD_SITE"] == "datadoghq.eu"


def test_api_role_runs_no_jobs() -> None:
    assert render_full("standalone", role="api").plain["N_JOBS_PER_WORKER"] == "0"
    assert render_full("standalone", role="queue").plain["N_JOBS_PER_WORKER"] == "5"


def test_redis_database_and_cluster_flag() -> None:
    secret = render_full("standalone").secret
    assert secret["REDIS_URI"] == "rediss://:tok@cache.internal:6379/3"
    cluster = RedisFacts(host="clustercfg.x", port=6379, token="t", tls=True, cluster=True)
    stack = validate_stack(full_raw())
    rendered = render_env(stack.config.server, stack.config.secrets, PG, cluster, pool_max_size=5,
                          redis_max_connections=5)
    assert rendered.plain["REDIS_CLUSTER"] == "true"
    assert rendered.secret["REDIS_URI"] == "rediss://:t@clustercfg.x:6379"


def test_gated_variables_are_left_out_for_old_servers() -> None:
    server = ServerConfig(image="r/x:1", server_version="0.2.11")
    rendered = render_env(server, Secrets(), PG, REDIS, pool_max_size=10, redis_max_connections=10).merged()
    assert "LANGGRAPH_POSTGRES_POOL_MAX_SIZE" not in rendered
    assert "BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS" not in rendered
    assert "REDIS_KEY_PREFIX" in rendered
    unknown = render_env(ServerConfig(image="r/x:1"), Secrets(), PG, REDIS, pool_max_size=10,
                         redis_max_connections=10).merged()
    assert "LANGGRAPH_POSTGRES_POOL_MAX_SIZE" in unknown


def test_external_uris_are_used_verbatim() -> None:
    uri = "postgresql://u:p@ext:6432/db?sslmode=verify-full"
    assert postgres_uri(PostgresFacts(uri=uri)) == uri
    assert redis_uri(RedisFacts(uri="rediss://:x@ext:6380/2")) == "rediss://:x@ext:6380/2"


def test_plain_redis_without_tls_uses_redis_scheme() -> None:
    assert redis_uri(RedisFacts(host="127.0.0.1", port=7000, token=None, tls=False)) == "redis://127.0.0.1:7000/0"


def test_ipv6_hosts_are_bracketed() -> None:
    assert "@[::1]:5432/" in postgres_uri(PostgresFacts(host="::1", database="d", user="u", password="p"))


hostile_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
) | st.sampled_from(["p@ss:/?#% word", "%", "@@", " ", "ümlaut€", "a/b?c#d"])
hosts = st.from_regex(r"[a-z][a-z0-9\-]{0,20}(\.[a-z][a-z0-9\-]{0,10}){0,3}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(host=hosts, port=st.integers(1, 65535), database=hostile_text, user=hostile_text, password=hostile_text)
def test_postgres_uri_round_trips(host: str, port: int, database: str, user: str, password: str) -> None:
    uri = postgres_uri(PostgresFacts(host=host, port=port, database=database, user=user, password=password))
    parts = urlsplit(uri)
    assert parts.scheme == "postgresql"
    assert parts.hostname == host
    assert parts.port == port
    assert unquote(parts.path[1:]) == database
    assert unquote(parts.username or "") == user
    assert unquote(parts.password or "") == password
    assert parts.query == "sslmode=require"


@settings(max_examples=300, deadline=None)
@given(host=hosts, port=st.integers(1, 65535), token=hostile_text, database=st.integers(0, 15),
       tls=st.booleans())
def test_redis_uri_round_trips(host: str, port: int, token: str, database: int, tls: bool) -> None:
    uri = redis_uri(RedisFacts(host=host, port=port, token=token, tls=tls), database)
    parts = urlsplit(uri)
    assert parts.scheme == ("rediss" if tls else "redis")
    assert (parts.hostname, parts.port) == (host, port)
    assert unquote(parts.password or "") == token
    assert parts.path == f"/{database}"


def test_full_server_config_round_trips_through_render() -> None:
    """render_env's URIs parse back for a validated config with a hostile password."""
    stack = validate_stack(full_raw())
    facts = PostgresFacts(host="db.internal", port=5432, database="agents", user="app", password="p@ss:/?#% wörd")
    uri = render_env(stack.config.server, stack.config.secrets, facts, REDIS, pool_max_size=1,
                     redis_max_connections=1).secret["DATABASE_URI"]
    assert unquote(urlsplit(uri).password or "") == "p@ss:/?#% wörd"


def test_runtime_limits_name_variables_the_library_renders() -> None:
    assert env.RUNTIME_LIMITS
    for limit in env.RUNTIME_LIMITS:
        assert limit.variables
        assert set(limit.variables) <= set(env.ENV), limit
        assert limit.source
