"""The AWS rules the config and the conformance tier share: windows, storage, versions and families."""

from __future__ import annotations

import pytest

from agent_server_infra import provider_rules as rules


@pytest.mark.parametrize(("daily", "weekly", "overlap"), [
    ("03:00-04:00", "sun:04:30-sun:05:30", False),
    ("03:00-04:00", "sun:04:00-sun:05:00", False),  # touching ends share no minute
    ("03:00-04:01", "sun:04:00-sun:05:00", True),
    ("23:30-00:30", "mon:00:00-mon:01:00", True),  # the daily window wraps midnight
    ("23:30-00:30", "sat:23:00-sun:01:00", True),
    ("12:00-13:00", "sun:23:30-mon:00:30", False),  # the weekly window wraps the week
    ("23:45-00:15", "sun:23:50-mon:00:10", True),
])
def test_windows_overlap(daily: str, weekly: str, overlap: bool) -> None:
    assert rules.windows_overlap(daily, weekly) is overlap


def test_window_lengths_wrap() -> None:
    assert rules.daily_minutes("23:30-00:15") == 45
    assert rules.weekly_minutes("sun:23:00-mon:00:30") == 90
    assert rules.weekly_minutes("sat:23:00-sun:00:00") == 60


@pytest.mark.parametrize(("allocated", "ceiling"), [(20, 22), (100, 110), (101, 112), (65536, 72090)])
def test_storage_ceiling_is_ten_percent_up_rounded_up(allocated: int, ceiling: int) -> None:
    assert rules.minimum_storage_ceiling(allocated) == ceiling


@pytest.mark.parametrize(("engine", "version", "family", "mode"), [
    ("redis", "6.0", "redis6.x", False),
    ("redis", "6.2", "redis6.x", False),
    ("redis", "7.0", "redis7", True),
    ("redis", "7.1", "redis7", True),
    ("valkey", "7.2", "valkey7", True),
    ("valkey", "8.2", "valkey8", True),
    ("valkey", "9.0", "valkey9", True),
])
def test_elasticache_family_and_transit_mode(engine: str, version: str, family: str, mode: bool) -> None:
    assert rules.elasticache_parameter_group_family(engine, version) == family
    assert rules.supports_transit_encryption_mode(engine, version) is mode
    assert version in rules.ELASTICACHE_VERSIONS[engine]


def test_every_default_version_is_one_elasticache_creates() -> None:
    for engine, version in rules.ELASTICACHE_DEFAULT_VERSION.items():
        assert version in rules.ELASTICACHE_VERSIONS[engine]


@pytest.mark.parametrize(("version", "creatable"), [
    ("16", True), ("15", True), ("16.8", False), ("16.9", True), ("15.12", False), ("15.13", True), ("17.4", False),
    ("17.5", True),
])
def test_postgres_creatable(version: str, creatable: bool) -> None:
    assert rules.postgres_creatable(version) is creatable


def test_text_rules_name_the_refused_characters() -> None:
    assert rules.SECURITY_GROUP_DESCRIPTION.problems("the server's clients") == [
        "has characters the API refuses: \"'\""]
    assert rules.SECURITY_GROUP_RULE_DESCRIPTION.problems("a & b") != []
    assert rules.SECURITY_GROUP_DESCRIPTION.problems("a & b") == []
    assert rules.ELASTICACHE_AUTH_TOKEN.problems("short") == ["must be 16-128 characters (got 5)"]
    assert rules.ELASTICACHE_AUTH_TOKEN.problems("a" * 20 + "_") == ["has characters the API refuses: '_'"]
    assert rules.RDS_MASTER_PASSWORD.problems("abcdefgh/@\" ") == ["has characters the API refuses: ' \"/@'"]
