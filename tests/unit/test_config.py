"""Field-level and cross-field rules of the stack config, each shown to reject bad input with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent_server_infra.errors import ConfigError
from agent_server_infra.validate import validate_stack
from tests.helpers import full_raw


def errors_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw, "stack.yaml")
    return [issue.render(caught.value.source) for issue in caught.value.issues]


def warnings_of(raw: dict[str, Any]) -> list[str]:
    return [issue.render() for issue in validate_stack(raw).warnings]


def with_(raw: dict[str, Any], section: str, **values: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed.setdefault(section, {}).update(values)
    return changed


def test_minimal_config_validates_with_seed_defaults(raw: dict[str, Any]) -> None:
    stack = validate_stack(raw)
    server = stack.config.server
    assert (server.n_jobs_per_worker, server.bg_job_shutdown_grace_period_secs) == (10, 180)
    assert server.bg_job_max_retries is None  # derived from the queue's rollout (tests/unit/test_retries.py)
    assert server.bg_job_timeout_secs == 86400
    assert server.cors_allow_origins == ["*"]
    assert server.redis_key_prefix == ""
    assert server.resumable_stream_ttl_seconds == 120
    assert server.log_level == "INFO"
    assert server.langsmith_tracing is None, "unset: on with a LangSmith key only (render_env decides)"


def test_full_config_validates() -> None:
    assert validate_stack(full_raw()).config.server.otel.enabled
    assert validate_stack(full_raw("control-plane")).config.server.deployment_model == "control-plane"


def test_error_names_file_path_rule_and_value(raw: dict[str, Any]) -> None:
    assert errors_of(with_(raw, "server", nJobsPerWorker=0)) == [
        "stack.yaml: agent-server:server.nJobsPerWorker: must be ≥ 1 (got 0)"
    ]


def test_every_error_is_reported_at_once(raw: dict[str, Any]) -> None:
    bad = with_(raw, "server", nJobsPerWorker=0, logLevel="LOUD", mountPrefix="agents/")
    bad = with_(bad, "postgres", engineVersion="14.9", backupRetentionDays=40)
    bad = with_(bad, "redis", replicas=7)
    found = errors_of(bad)
    paths = [line.split(": ")[1] for line in found]
    assert paths == [
        "agent-server:postgres.engineVersion",
        "agent-server:postgres.backupRetentionDays",
        "agent-server:redis.replicas",
        "agent-server:server.logLevel",
        "agent-server:server.mountPrefix",
        "agent-server:server.nJobsPerWorker",
    ]


@pytest.mark.parametrize("broken", ["redis", "postgres"])
def test_a_broken_store_section_does_not_hide_the_other_rules(raw: dict[str, Any], broken: str) -> None:
    """A store section that is not even a mapping: the server and network rules still run."""
    bad = copy.deepcopy(raw)
    bad[broken] = "single"
    del bad["server"]["image"]
    del bad["network"]
    paths = [line.split(": ")[1] for line in errors_of(bad)]
    assert f"agent-server:{broken}" in paths
    assert "agent-server:server.image" in paths
    assert "agent-server:network" in paths


@pytest.mark.parametrize(
    ("section", "values", "path", "fragment"),
    [
        ("server", {"bgJobShutdownGracePeriodSecs": 3601}, "server.bgJobShutdownGracePeriodSecs", "≤ 3600"),
        ("server", {"bgJobShutdownGracePeriodSecs": -1}, "server.bgJobShutdownGracePeriodSecs", "≥ 0"),
        ("server", {"bgJobMaxRetries": -1}, "server.bgJobMaxRetries", "≥ 0"),
        ("server", {"bgJobTimeoutSecs": 0}, "server.bgJobTimeoutSecs", "> 0"),
        ("server", {"resumableStreamTtlSeconds": 0}, "server.resumableStreamTtlSeconds", "≥ 1"),
        ("server", {"postgresPoolMaxSize": 0}, "server.postgresPoolMaxSize", "≥ 1"),
        ("server", {"redisMaxConnections": 0}, "server.redisMaxConnections", "≥ 1"),
        ("server", {"redisDatabase": 16}, "server.redisDatabase", "≤ 15"),
        ("server", {"mountPrefix": "/agents/"}, "server.mountPrefix", "must match"),
        ("server", {"mountPrefix": "agents"}, "server.mountPrefix", "must match"),
        ("server", {"corsAllowOrigins": ["https://ok.example.com", "https://bad.example.com/path"]},
         "server.corsAllowOrigins[1]", "origin"),
        ("server", {"corsAllowOrigins": ["example.com"]}, "server.corsAllowOrigins[0]", "origin"),
        ("server", {"langsmithEndpoint": "http://insecure.example.com"}, "server.langsmithEndpoint", "https://"),
        ("server", {"checkpointerBackend": "sqlite"}, "server.checkpointerBackend", "one of"),
        ("server", {"checkpointDelete": {"batchSize": 0}}, "server.checkpointDelete.batchSize", "> 0"),
        ("server", {"checkpointDelete": {"pollIntervalMs": -5}}, "server.checkpointDelete.pollIntervalMs", "> 0"),
        ("server", {"api": {"replicas": 0}}, "server.api.replicas", "≥ 1"),
        ("server", {"queue": {"cpu": "two"}}, "server.queue.cpu", "quantity"),
        ("server", {"serverVersion": "latest"}, "server.serverVersion", "version number"),
        ("server", {"unknownThing": 1}, "server.unknownThing", "unknown key"),
        ("postgres", {"engineVersion": "15.7"}, "postgres.engineVersion", "≥ 15.8"),
        ("postgres", {"username": "postgres"}, "postgres.username", "reserved"),
        ("postgres", {"databaseName": "1db"}, "postgres.databaseName", "must match"),
        ("redis", {"mode": "sentinel"}, "redis.mode", "one of"),
        ("network", {"clientCidrs": ["0.0.0.0/0"]}, "network.clientCidrs[0]", "whole internet"),
        ("network", {"clientCidrs": ["::/0"]}, "network.clientCidrs[0]", "whole internet"),
        ("network", {"clientCidrs": ["10.0.0.1/8"]}, "network.clientCidrs[0]", "CIDR"),
        ("network", {"subnetIds": ["subnet-0123456789abcdef1"]}, "network.subnetIds", "at least 2"),
        ("network", {"subnetIds": ["subnet-0123456789abcdef1"] * 2}, "network.subnetIds", "distinct"),
    ],
)
def test_field_rules(raw: dict[str, Any], section: str, values: dict[str, Any], path: str, fragment: str) -> None:
    found = errors_of(with_(raw, section, **values))
    assert any(f"agent-server:{path}: " in line and fragment in line for line in found), found


def test_postgres_158_is_the_floor(raw: dict[str, Any]) -> None:
    below = errors_of(with_(raw, "postgres", engineVersion="15.7", autoMinorVersionUpgrade=False))
    assert any("≥ 15.8" in line for line in below), below
    assert errors_of(with_(raw, "postgres", engineVersion="15.13.1", autoMinorVersionUpgrade=False))
    # 15.8 is the server's floor, but RDS creates no 15.x below 15.13 any more
    retired = errors_of(with_(raw, "postgres", engineVersion="15.8", autoMinorVersionUpgrade=False))
    assert any("RDS no longer creates Postgres 15.8" in line and "15.13" in line for line in retired), retired
    pinned = {"engineVersion": "15.13", "autoMinorVersionUpgrade": False}
    assert validate_stack(with_(raw, "postgres", **pinned)).config.postgres.engine_version == "15.13"
    assert validate_stack(with_(raw, "postgres", engineVersion="15")).config.postgres.engine_version == "15"


def test_isolated_loops_reject_tiny_per_worker_pools(raw: dict[str, Any]) -> None:
    found = errors_of(with_(raw, "server", bgJobIsolatedLoops=True, nJobsPerWorker=15, postgresPoolMaxSize=20))
    assert any("server.postgresPoolMaxSize" in line and "20 // 15 = 1" in line for line in found), found
    ok = with_(raw, "server", bgJobIsolatedLoops=True, nJobsPerWorker=5, postgresPoolMaxSize=15)
    assert validate_stack(ok).connections.pool_max_size == 15


def test_checkpoint_delete_needs_default_checkpointer(raw: dict[str, Any]) -> None:
    bad = with_(raw, "server", checkpointDelete={"enabled": True}, checkpointerBackend="mongo")
    assert any("server.checkpointDelete: only supported with checkpointerBackend default" in line
               for line in errors_of(bad))


def test_mongo_needs_uri_with_scheme_and_database(raw: dict[str, Any]) -> None:
    mongo = with_(raw, "server", checkpointerBackend="mongo")
    assert "agent-server:mongodbUri: secret required" in "\n".join(errors_of(mongo))
    wrong_scheme = {**mongo, "mongodbUri": "postgresql://host/db"}
    assert "mongodb:// or mongodb+srv://" in "\n".join(errors_of(wrong_scheme))
    no_database = {**mongo, "mongodbUri": "mongodb+srv://user:pw@cluster0.example.net/?retryWrites=true"}
    assert "database in the path" in "\n".join(errors_of(no_database))
    assert validate_stack({**mongo, "mongodbUri": "mongodb+srv://u:p@cluster0.example.net/agents"})


def test_otel_enabled_needs_an_endpoint(raw: dict[str, Any]) -> None:
    found = errors_of(with_(raw, "server", otel={"enabled": True}))
    assert any("server.otel.endpoint" in line for line in found)
    assert validate_stack(with_(raw, "server", otel={"enabled": True, "tracesEndpoint": "https://o.example.com"}))


def test_datadog_and_otel_together_warn(raw: dict[str, Any]) -> None:
    both = with_(raw, "server", otel={"enabled": True, "endpoint": "https://o.example.com"},
                 datadog={"enabled": True})
    both["datadogApiKey"] = "dd"
    assert any("server.datadog.enabled" in line and "OpenTelemetry" in line for line in warnings_of(both))
    assert not any("OpenTelemetry" in line for line in warnings_of(raw))


def test_datadog_needs_its_key(raw: dict[str, Any]) -> None:
    assert any("datadogApiKey: secret required" in line
               for line in errors_of(with_(raw, "server", datadog={"enabled": True})))


def test_extra_env_may_not_override_managed_variables(raw: dict[str, Any]) -> None:
    found = errors_of(with_(raw, "server", extraEnv={"REDIS_URI": "redis://evil", "MY_FLAG": "1",
                                                      "N_JOBS_PER_WORKER": "3"}))
    assert [line.split(": ")[1] for line in found] == [
        "agent-server:server.extraEnv.N_JOBS_PER_WORKER", "agent-server:server.extraEnv.REDIS_URI"]
    assert validate_stack(with_(raw, "server", extraEnv={"MY_FLAG": "1", "DD_TRACE_DEBUG": "true"}))


@pytest.mark.parametrize(
    ("values", "path", "minimum"),
    [
        ({"redisKeyPrefix": "a:"}, "server.redisKeyPrefix", "0.1.9"),
        ({"postgresPoolMaxSize": 40}, "server.postgresPoolMaxSize", "0.2.12"),
        ({"bgJobShutdownGracePeriodSecs": 200}, "server.bgJobShutdownGracePeriodSecs", "0.2.16"),
        ({"checkpointDelete": {"enabled": True}}, "server.checkpointDelete", "0.8.1"),
        ({"otel": {"enabled": True, "endpoint": "https://o.example.com"}}, "server.otel.enabled", "0.5.32"),
    ],
)
def test_version_gates(raw: dict[str, Any], values: dict[str, Any], path: str, minimum: str) -> None:
    below = f"{minimum[:-1]}{int(minimum[-1]) - 1}"
    # Servers before 0.2.12 always pool 150 connections: give them a database that fits that.
    raw = with_(raw, "postgres", instanceClass="db.r6g.xlarge")
    found = errors_of(with_(raw, "server", serverVersion=below, **values))
    assert any(f"agent-server:{path}:" in line and f"≥ {minimum}" in line and below in line for line in found)
    assert validate_stack(with_(raw, "server", serverVersion=minimum, **values))


def test_redis_cluster_shape_limits(raw: dict[str, Any]) -> None:
    too_big = with_(raw, "redis", mode="cluster", shards=251, replicasPerShard=1)
    assert any("redis.shards" in line and "500" in line for line in errors_of(too_big))
    assert errors_of(with_(raw, "redis", mode="cluster", shards=0))
    assert errors_of(with_(raw, "redis", mode="cluster", replicasPerShard=6))
    assert validate_stack(with_(raw, "redis", mode="cluster", shards=3, replicasPerShard=2))


def test_fields_of_another_mode_are_rejected(raw: dict[str, Any]) -> None:
    found = errors_of(with_(raw, "redis", mode="single", shards=3))
    assert any("redis.shards: only applies when redis.mode is cluster" in line for line in found)
    found = errors_of(with_(raw, "redis", mode="cluster", replicas=1))
    assert any("redis.replicas: only applies when redis.mode is single" in line for line in found)


def test_cluster_mode_has_only_database_zero(raw: dict[str, Any]) -> None:
    found = errors_of(with_(with_(raw, "redis", mode="cluster"), "server", redisDatabase=2))
    assert any("server.redisDatabase" in line and "only database 0" in line for line in found)


def test_external_stores_need_uri_and_capacity(raw: dict[str, Any]) -> None:
    ext = with_(with_(raw, "postgres", mode="external"), "redis", mode="external")
    ext["postgres"].pop("instanceClass")
    found = "\n".join(errors_of(ext))
    for fragment in ("postgres.maxConnections: required", "postgresUri: secret required",
                     "redis.maxClients: required", "redisUri: secret required"):
        assert fragment in found
    ext["postgres"]["maxConnections"] = 200
    ext["redis"]["maxClients"] = 10000
    ext["postgresUri"] = "postgresql://u:p@db.internal:5432/agents?sslmode=require"
    ext["redisUri"] = "rediss://:tok@cache.internal:6379/0"
    del ext["network"]
    assert validate_stack(ext).connections.postgres.capacity == 200


def test_network_required_for_managed_stores(raw: dict[str, Any]) -> None:
    del raw["network"]
    assert any("agent-server:network: required" in line for line in errors_of(raw))


def test_network_needs_a_client(raw: dict[str, Any]) -> None:
    bad = with_(raw, "network", clientSecurityGroupIds=[])
    assert any("network.clientSecurityGroupIds" in line for line in errors_of(bad))


def test_standalone_needs_a_pinned_image(raw: dict[str, Any]) -> None:
    del raw["server"]["image"]
    assert any("server.image: required" in line for line in errors_of(raw))
    assert any("server.image: must pin" in line
               for line in errors_of(with_(raw, "server", image="registry.example.com/agents")))


def test_budget_violation_is_a_config_error_with_numbers(raw: dict[str, Any]) -> None:
    found = errors_of(with_(raw, "server", postgresPoolMaxSize=200))
    assert any("server.postgresPoolMaxSize: connection budget exceeded" in line and "368" in line
               for line in found), found


def test_unknown_instance_class_lists_known_ones(raw: dict[str, Any]) -> None:
    found = errors_of(with_(raw, "postgres", instanceClass="db.x99.huge"))
    assert any("postgres.instanceClass" in line and "db.t4g.medium" in line for line in found)
    pinned = with_(raw, "postgres", instanceClass="db.x99.huge", maxConnections=500)
    assert validate_stack(pinned).connections.postgres.capacity == 500


def test_unknown_top_level_key(raw: dict[str, Any]) -> None:
    found = errors_of({**raw, "servr": {}})
    assert any("agent-server:servr: unknown key" in line for line in found)
