"""Known-vulnerable server versions: the advisory table, the warning (an error under strictVersions) and the
shipped stacks on fixed releases."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from agent_server_infra.advisories import ADVISORIES, advisories_for, move_to
from agent_server_infra.errors import ConfigError
from agent_server_infra.validate import validate_stack
from tests.helpers import ROOT, STACKS

GHSA = "GHSA-747p-c922-m55f"


@pytest.mark.parametrize("version", ["0.11.1", "0.11.2", "0.10.5", "0.12.0", "0.12.4", "0.12.0.dev22",
                                     "0.13.0.dev2", "0.13.0rc3"])
def test_affected_releases(version: str) -> None:
    assert GHSA in [advisory.id for advisory in advisories_for(version)]


@pytest.mark.parametrize("version", ["0.11.3", "0.11.4", "0.12.5", "0.12.12", "0.13.0rc5", "0.13.0", "0.14.0",
                                     "0.16.7", "1.0.0"])
def test_fixed_and_later_releases(version: str) -> None:
    assert GHSA not in [advisory.id for advisory in advisories_for(version)]


def test_the_advisory_names_its_fixes_and_source() -> None:
    [advisory] = [item for item in ADVISORIES if item.id == GHSA]
    assert advisory.fixed == ("0.11.3", "0.12.5", "0.13.0rc5")
    assert "agent-server-changelog" in advisory.source
    assert advisories_for(move_to("0.12.1")) == [], "the advice clears every advisory, not only this one"


def test_an_affected_version_is_a_warning_at_its_key(raw: dict[str, Any]) -> None:
    stack = validate_stack({**raw, "server": {**raw["server"], "serverVersion": "0.12.2"}})
    [warning] = [issue for issue in stack.warnings if GHSA in issue.message]
    assert warning.path == "server.serverVersion"
    assert "move to 0.15.9 or later" in warning.message


def test_strict_versions_make_it_an_error(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_stack({**raw, "server": {**raw["server"], "serverVersion": "0.11.1", "strictVersions": True}})
    assert f"server.serverVersion: langgraph-api 0.11.1 is affected by {GHSA}" in caught.value.report()
    fixed = validate_stack({**raw, "server": {**raw["server"], "serverVersion": "0.15.9", "strictVersions": True}})
    assert not [issue for issue in fixed.warnings if "affected" in issue.message]


def test_no_version_no_advisory(raw: dict[str, Any]) -> None:
    server = {key: value for key, value in raw["server"].items() if key != "serverVersion"}
    assert not [issue for issue in validate_stack({**raw, "server": server}).warnings if "GHSA" in issue.message]


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_run_fixed_releases(stack: str) -> None:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    version = config["agent-server:server"]["serverVersion"]
    assert advisories_for(str(version)) == []
