"""What today's Agent Server releases (langgraph-api 0.11 to 0.16) really do, against what the library accepts and
renders: the checkpointer backends, the advisories and the release they advise, wildcard CORS with credentials,
LangSmith tracing without a key, Redis older than the run queue needs, and releases nobody verified."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import SecretStr

from agent_server_infra.advisories import ADVISORIES, advisories_for, move_to
from agent_server_infra.config import Secrets, ServerConfig
from agent_server_infra.env import PostgresFacts, RedisFacts, render_env
from agent_server_infra.errors import ConfigError, Issue
from agent_server_infra.releases import newest_verified, verified_versions
from agent_server_infra.validate import validate_stack


def server_with(raw: dict[str, Any], **values: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed["server"].update(values)
    return changed


def report(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw, "stack.yaml")
    return caught.value.report()


def warnings(raw: dict[str, Any], path: str) -> list[Issue]:
    return [issue for issue in validate_stack(raw).warnings if issue.path == path]


# --- 1. checkpointerBackend: custom --------------------------------------------------------------------------


def test_custom_checkpointer_backend_is_refused_and_points_to_langgraph_json(raw: dict[str, Any]) -> None:
    text = report(server_with(raw, checkpointerBackend="custom"))
    assert "agent-server:server.checkpointerBackend: must be default or mongo (got 'custom')" in text
    assert "langgraph.json (checkpointer.path)" in text
    assert f"({verified_versions()[0]} to {newest_verified()})" in text


@pytest.mark.parametrize("backend", ["default", "mongo"])
def test_the_backends_every_release_accepts_still_validate(raw: dict[str, Any], backend: str) -> None:
    stack = validate_stack({**server_with(raw, checkpointerBackend=backend),
                            "mongodbUri": "mongodb://db.example.com:27017/langgraph"})
    assert stack.config.server.checkpointer_backend == backend


# --- 2. advisories -------------------------------------------------------------------------------------------

EXPECTED: dict[str, tuple[str, ...]] = {
    # version → the advisories that affect it (conditional ones included)
    "0.9.0": ("GHSA-2c9q-c2q9-qgqv", "GHSA-jfj5-wrj9-63x4", "GHSA-747p-c922-m55f",
              "agent-server-0.14.0-cors-credentials", "GHSA-fvww-7h3r-vfhp", "GHSA-4hm6-w6qq-w73v"),
    "0.10.0": ("GHSA-747p-c922-m55f", "agent-server-0.14.0-cors-credentials", "GHSA-fvww-7h3r-vfhp",
               "GHSA-4hm6-w6qq-w73v"),
    "0.11.4": ("agent-server-0.14.0-cors-credentials", "GHSA-fvww-7h3r-vfhp", "GHSA-4hm6-w6qq-w73v"),
    "0.12.12": ("agent-server-0.14.0-cors-credentials", "GHSA-fvww-7h3r-vfhp", "GHSA-4hm6-w6qq-w73v"),
    "0.13.8": ("agent-server-0.14.0-cors-credentials", "GHSA-fvww-7h3r-vfhp", "GHSA-4hm6-w6qq-w73v"),
    "0.14.7": ("GHSA-4hm6-w6qq-w73v",),
    "0.15.0rc7": ("GHSA-4hm6-w6qq-w73v",),
    "0.15.0": (),
    "0.15.9": (),
    "0.16.7": (),
}


@pytest.mark.parametrize(("version", "expected"), EXPECTED.items())
def test_which_advisories_affect_a_release(version: str, expected: tuple[str, ...]) -> None:
    assert tuple(advisory.id for advisory in advisories_for(version)) == expected


def test_the_reported_advisories_are_encoded_with_their_fixes_and_sources() -> None:
    table = {advisory.id: advisory for advisory in ADVISORIES}
    assert table["GHSA-4hm6-w6qq-w73v"].fixed == ("0.15.0",)
    assert table["GHSA-2c9q-c2q9-qgqv"].fixed == table["GHSA-jfj5-wrj9-63x4"].fixed == ("0.10.0",)
    assert table["GHSA-2c9q-c2q9-qgqv"].aliases == ("CVE-2026-55235",)
    assert table["GHSA-fvww-7h3r-vfhp"].aliases == ("CVE-2026-104873",)
    assert table["agent-server-0.14.0-cors-credentials"].condition == "wildcard-cors-ingress"
    for advisory in ADVISORIES:
        assert advisory.source
        assert advisory.summary


@pytest.mark.parametrize("version", ["0.8.7", "0.9.0", "0.10.3", "0.11.1", "0.11.4", "0.12.0", "0.12.12",
                                     "0.13.0rc3", "0.13.8", "0.14.0", "0.14.7", "0.15.0rc1"])
def test_the_advice_names_a_release_no_known_advisory_affects(version: str) -> None:
    target = move_to(version)
    assert advisories_for(target) == [], f"{version} is told to move to {target}, itself affected"
    assert target in verified_versions()


def test_0_9_0_is_no_longer_told_to_move_to_an_affected_release(raw: dict[str, Any]) -> None:
    found = warnings(server_with(raw, serverVersion="0.9.0"), "server.serverVersion")
    assert found
    assert all("move to 0.15.9 or later" in issue.message for issue in found)
    assert not any("move to 0.11.3" in issue.message for issue in found)


def test_an_advisory_is_an_error_under_strict_versions(raw: dict[str, Any]) -> None:
    text = report(server_with(raw, serverVersion="0.12.12", strictVersions=True))
    assert "server.serverVersion: langgraph-api 0.12.12 is affected by GHSA-4hm6-w6qq-w73v" in text
    assert "GHSA-fvww-7h3r-vfhp (CVE-2026-104873)" in text


# --- 3. wildcard CORS with credentials -----------------------------------------------------------------------

INGRESS = {"host": "agents.example.com"}


@pytest.mark.parametrize("version", ["0.11.4", "0.12.12", "0.13.8"])
def test_wildcard_cors_with_an_ingress_on_a_credentialed_release_is_a_warning(raw: dict[str, Any],
                                                                              version: str) -> None:
    [issue] = warnings(server_with(raw, serverVersion=version, ingress=INGRESS), "server.corsAllowOrigins")
    assert issue.severity == "warning"
    assert "Access-Control-Allow-Credentials" in issue.message
    assert "list the allowed origins" in issue.message


def test_wildcard_cors_with_an_ingress_is_an_error_under_strict_versions(raw: dict[str, Any]) -> None:
    text = report(server_with(raw, serverVersion="0.13.8", ingress=INGRESS, strictVersions=True))
    assert "agent-server:server.corsAllowOrigins: '*' with an ingress on langgraph-api 0.13.8" in text


@pytest.mark.parametrize("changes", [
    {"serverVersion": "0.14.7", "ingress": INGRESS},  # 0.14 turns credentials off for '*'
    {"serverVersion": "0.13.8"},  # no ingress: no browser reaches the API from another site
    {"serverVersion": "0.13.8", "ingress": INGRESS, "corsAllowOrigins": ["https://app.example.com"]},
])
def test_no_cors_warning_without_the_combination(raw: dict[str, Any], changes: dict[str, Any]) -> None:
    assert warnings(server_with(raw, **changes), "server.corsAllowOrigins") == []


# --- 4. LangSmith tracing without a key ----------------------------------------------------------------------


def tracing(server: ServerConfig, secrets: Secrets) -> str | None:
    rendered = render_env(server, secrets, PostgresFacts(host="db"), RedisFacts(host="cache"), pool_max_size=10,
                          redis_max_connections=10, role="api")
    return rendered.merged().get("LANGSMITH_TRACING")


KEY = Secrets(langsmith_api_key=SecretStr("lsv2-key"))


@pytest.mark.parametrize(("setting", "secrets", "expected"), [
    (None, Secrets(), None),
    (None, KEY, "true"),
    (True, Secrets(), None),
    (True, KEY, "true"),
    (False, KEY, "false"),
    (False, Secrets(), "false"),
])
def test_tracing_is_never_rendered_on_without_a_key(setting: bool | None, secrets: Secrets,
                                                    expected: str | None) -> None:
    assert tracing(ServerConfig(image="r/x:1", langsmith_tracing=setting), secrets) == expected


def test_tracing_true_without_a_key_is_a_warning(raw: dict[str, Any]) -> None:
    [issue] = warnings(server_with(raw, langsmithTracing=True), "server.langsmithTracing")
    assert "langsmithApiKey is not set" in issue.message
    assert warnings({**server_with(raw, langsmithTracing=True), "langsmithApiKey": "key"},
                    "server.langsmithTracing") == []


# --- 5. Redis older than the run queue needs -----------------------------------------------------------------


def redis_with(raw: dict[str, Any], version: str | None, engine: str = "redis", **server: Any) -> dict[str, Any]:
    changed = server_with(raw, **server)
    changed["redis"] = {"mode": "single", "engine": engine, "engineVersion": version}
    return changed


@pytest.mark.parametrize("server_version", ["0.8.0", "0.11.4", "0.16.7", None])
def test_redis_6_0_is_refused_for_servers_that_enqueue_with_zadd_lt(raw: dict[str, Any],
                                                                    server_version: str | None) -> None:
    text = report(redis_with(raw, "6.0", serverVersion=server_version))
    assert "agent-server:redis.engineVersion: Redis 6.0 is too old for" in text
    assert "ERR syntax error" in text
    assert "6.2 or later" in text


@pytest.mark.parametrize(("engine", "version", "server_version"), [
    ("redis", "6.2", "0.16.7"), ("redis", "7.1", None), ("valkey", "7.2", "0.16.7"), ("redis", "6.0", "0.7.103"),
])
def test_redis_the_queue_can_use_validates(raw: dict[str, Any], engine: str, version: str,
                                           server_version: str | None) -> None:
    stack = validate_stack(redis_with(raw, version, engine, serverVersion=server_version))
    assert stack.config.redis.version == version


# --- 6. releases beyond the newest verified ------------------------------------------------------------------


def test_a_release_newer_than_the_newest_verified_is_a_warning(raw: dict[str, Any]) -> None:
    [issue] = warnings(server_with(raw, serverVersion="99.0.0"), "server.serverVersion")
    assert f"newer than {newest_verified()}" in issue.message
    assert "agent-server-infra releases --add 99.0.0" in issue.message
    assert warnings(server_with(raw, serverVersion=newest_verified()), "server.serverVersion") == []


def test_an_unverified_release_is_an_error_under_strict_versions(raw: dict[str, Any]) -> None:
    text = report(server_with(raw, serverVersion="0.17.0rc1", strictVersions=True))
    assert "server.serverVersion: langgraph-api 0.17.0rc1 is newer than" in text
