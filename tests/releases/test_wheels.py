"""The release table against the releases themselves: every verified release's wheel, downloaded from PyPI (and
checked against the digest PyPI lists), scanned again. The table must be exactly what the wheels say, and the
library must agree with it. Wheels are cached in pytest's cache directory (``.pytest_cache``, ignored by git)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from agent_server_infra import cli, release_checks
from agent_server_infra.release_scan import generate, pypi_wheels
from agent_server_infra.releases import TABLE_PATH, Release, render_table, verified_versions


@pytest.fixture(scope="module")
def wheels(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the downloaded wheels stay: pytest's cache, or a temporary directory under `-p no:cacheprovider`."""
    store = getattr(request.config, "cache", None)
    return Path(store.mkdir("langgraph-api-wheels")) if store is not None else tmp_path_factory.mktemp("wheels")


@pytest.fixture(scope="module")
def regenerated(wheels: Path) -> tuple[Release, ...]:
    return generate(verified_versions(), wheels)


def test_the_checked_in_table_is_what_the_wheels_say(regenerated: tuple[Release, ...]) -> None:
    assert render_table(regenerated) == TABLE_PATH.read_text(), (
        "releases.json differs from the wheels: run `agent-server-infra releases --write` and review the diff")


def test_the_library_agrees_with_the_wheels(regenerated: tuple[Release, ...]) -> None:
    assert release_checks.problems(regenerated) == []


def test_every_release_0_11_to_0_16_refuses_a_custom_checkpointer_backend(
        regenerated: tuple[Release, ...]) -> None:
    for release in regenerated:
        assert "custom" not in release.checkpointer_backends, release.version
        assert release.reads["LS_DEFAULT_CHECKPOINTER_BACKEND"] == ("langgraph_api/config/_parse.py",)


def test_the_newest_verified_release_is_the_newest_stable_one_on_pypi_when_the_table_was_made() -> None:
    # The table may lag PyPI (a new release is verified with `releases --add`), but it never names a release
    # PyPI does not have: each verified version has a pure-Python wheel there.
    assert set(pypi_wheels(verified_versions())) == set(verified_versions())
    assert Version(verified_versions()[-1]) >= Version("0.16.7")


def test_the_command_finds_the_table_fresh_and_the_library_consistent(wheels: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["releases", "--cache", str(wheels)]) == 0, capsys.readouterr().err
    assert "0.11.4 → 0.12.0: + AGENT_POSTGRES_IAM_AUTH_PROVIDER" in capsys.readouterr().out
