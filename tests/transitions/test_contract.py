"""`agent-server-infra diff OLD NEW --json PATH`: the change-safety document, the exit codes and `--allow`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent_server_infra import cli
from agent_server_infra.exits import EXIT_BLOCKED, EXIT_CHANGES, EXIT_NO_CHANGES
from agent_server_infra.transitions import BLOCKING, EFFECTS
from tests.helpers import PlanDocument

UPSIZE = {"postgres": {"instanceClass": "db.r6g.large"}}


def _diff(tmp_path: Path, old: dict[str, Any], new: dict[str, Any], *extra: str) -> tuple[int, dict[str, Any], str]:
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    out = tmp_path / "safety.json"
    markdown = tmp_path / "diff.md"
    code = cli.main(["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--json", str(out),
                     "--markdown", str(markdown), "--quiet", *extra])
    return code, json.loads(out.read_text()), markdown.read_text()


def test_the_json_document_lists_every_change_with_action_effects_and_reasons(
        plan_document: PlanDocument, tmp_path: Path) -> None:
    code, document, markdown = _diff(tmp_path, plan_document("dev"), plan_document("dev", UPSIZE))
    assert code == EXIT_BLOCKED == 4
    assert document["blocked"] is True
    assert document["blocking"] == ["over-commit"]
    assert set(document["blockingEffects"]) == set(BLOCKING) == {"fails", "data-loss", "over-commit"}
    for change in document["changes"]:
        assert set(change) == {"urn", "type", "name", "action", "effects", "reasons"}
        assert change["action"] in {"create", "update", "replace", "delete"}
        assert change["effects"], change
        assert set(change["effects"]) <= set(EFFECTS)
        assert [effect for effect in EFFECTS if effect in change["effects"]] == change["effects"], "vocabulary order"
        assert {reason["effect"] for reason in change["reasons"]} == set(change["effects"])
        assert all(reason["message"] for reason in change["reasons"])
    [database] = [change for change in document["changes"] if change["type"] == "aws:rds/instance:Instance"]
    assert database["action"] == "update"
    assert database["effects"] == ["deferred", "restart", "over-commit"]
    [over] = [reason for reason in database["reasons"] if reason["effect"] == "over-commit"]
    assert "900 connections" in over["message"], "150 per pod × 6 pods, against the 414 the running class allows"
    assert "414" in over["message"]
    assert over["way"].startswith("set agent-server:postgres.applyImmediately: true")
    assert over["source"]
    assert "**Blocked: over-commit.**" in markdown
    assert "**Way through:** set agent-server:postgres.applyImmediately: true" in markdown


def test_an_allowed_effect_no_longer_blocks(plan_document: PlanDocument, tmp_path: Path) -> None:
    code, document, markdown = _diff(tmp_path, plan_document("dev"), plan_document("dev", UPSIZE),
                                     "--allow", "over-commit")
    assert code == EXIT_CHANGES == 3
    assert document["blocked"] is False
    assert document["allowed"] == ["over-commit"]
    assert "Allowed deliberately: over-commit." in markdown


def test_another_allowance_does_not_unblock(plan_document: PlanDocument, tmp_path: Path) -> None:
    code, document, _ = _diff(tmp_path, plan_document("dev"), plan_document("dev", UPSIZE), "--allow", "data-loss")
    assert code == EXIT_BLOCKED
    assert document["blocking"] == ["over-commit"]


def test_no_changes_is_exit_0_and_an_empty_document(plan_document: PlanDocument, tmp_path: Path) -> None:
    code, document, _ = _diff(tmp_path, plan_document("prod"), plan_document("prod"))
    assert code == EXIT_NO_CHANGES == 0
    assert document["changes"] == []
    assert document["blocked"] is False


def test_only_blocking_effects_may_be_allowed(plan_document: PlanDocument, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plan.json").write_text(json.dumps(plan_document("dev")))
    with pytest.raises(SystemExit) as exited:
        cli.main(["diff", str(tmp_path / "plan.json"), str(tmp_path / "plan.json"), "--allow", "restart"])
    assert exited.value.code == 2
    assert "invalid choice: 'restart'" in capsys.readouterr().err


def test_a_renamed_stack_is_named_in_the_document(plan_document: PlanDocument, tmp_path: Path) -> None:
    pinned = {"naming": {"name": "agent-server-dev"}}
    code, document, markdown = _diff(tmp_path, plan_document("dev", pinned),
                                     plan_document("dev", pinned, name="dev2"))
    assert code == EXIT_CHANGES
    assert document["renamedStack"] == {"from": "dev", "to": "dev2"}
    assert {change["action"] for change in document["changes"]} == {"update"}
    assert document["blocked"] is False
    assert "## Plan diff: `agent-server/dev → agent-server/dev2`" in markdown
