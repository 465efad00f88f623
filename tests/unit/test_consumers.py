"""Friction a consumer of the library meets: where stack files are, secrets of other namespaces, typos, the
readability of a budget over many deployments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_server_infra.config import placeholder
from agent_server_infra.errors import ConfigError
from agent_server_infra.loaders import load_stack_file, resolve_stack_file
from agent_server_infra.sizing import RedisUser, SizingError, redis_budget
from agent_server_infra.validate import validate_stack


def project(root: Path, pulumi_yaml: str, stack_dir: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(pulumi_yaml)
    (root / stack_dir).mkdir(parents=True, exist_ok=True)
    stack = root / stack_dir / "Pulumi.dev.yaml"
    stack.write_text("config: {}\n")
    return stack


def test_stack_files_are_found_where_pulumi_finds_them(tmp_path: Path) -> None:
    configured = project(tmp_path / "a", "name: a\nruntime: python\nstackConfigDir: config/stacks\n", "config/stacks")
    assert resolve_stack_file("dev", tmp_path / "a") == configured
    beside = project(tmp_path / "b", "name: b\nruntime: python\n", ".")
    assert resolve_stack_file("dev", tmp_path / "b").resolve() == beside.resolve()
    with pytest.raises(FileNotFoundError, match="known: dev"):
        resolve_stack_file("prod", tmp_path / "b")


def test_secure_values_of_any_namespace_are_placeholders(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text("config:\n  team:apiToken:\n    secure: v1:AAAA:BBBB=\n  team:plain: hello\n")
    _, others = load_stack_file(stack)
    assert others["team:apiToken"] == placeholder("team:apiToken")
    assert others.secret_keys == ["team:apiToken"]
    assert others["team:plain"] == "hello"


def test_a_namespace_close_to_ours_is_a_warning(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text("config:\n  agent_server:server: {nJobsPerWorker: 3}\n  aws:region: us-east-1\n")
    _, others = load_stack_file(stack)
    assert [warning.render() for warning in others.warnings] == [
        "warning: agent_server:server: is not read: namespace 'agent_server' is not 'agent-server' (did you mean "
        "agent-server:server?)"]


@pytest.mark.parametrize(("section", "typo", "meant"), [
    ("server", {"nJobsPerWorkr": 3}, "server.nJobsPerWorkr: unknown key (got 3) (did you mean nJobsPerWorker?)"),
    ("server", {"api": {"maxReplica": 3}}, "server.api.maxReplica: unknown key (got 3) (did you mean maxReplicas?)"),
    ("redis", {"shard": 2}, "redis.shard: unknown key (got 2) (did you mean shards?)"),
    ("postgres", {"multiAZ": True}, "postgres.multiAZ: unknown key (got true) (did you mean multiAz?)"),
])
def test_nested_typos_get_a_did_you_mean(raw: dict[str, Any], section: str, typo: dict[str, Any],
                                         meant: str) -> None:
    changed = {**raw, section: {**raw.get(section, {}), **typo}}
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert any(meant in line for line in caught.value.report().splitlines()), caught.value.report()


def test_a_redis_budget_over_many_deployments_stays_one_readable_line() -> None:
    users = [RedisUser(f"team-{index:03d}", 4, 100 + index) for index in range(200)]
    with pytest.raises(SizingError) as caught:
        redis_budget(max_clients=65_000, users=users, cluster=False)
    message = caught.value.message
    assert message.count("pods ×") == 3
    assert "team-199 4 pods × 299" in message, "the largest are named"
    assert "+ 197 more deployments" in message
    assert len(message) < 400
    fitting = redis_budget(max_clients=65_000, users=users[:3], cluster=False)
    assert fitting.formula.count("pods ×") == 3
    assert fitting.inputs["deployments"] == 3
