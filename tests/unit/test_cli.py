"""The CLI: check exit codes and messages, generated docs in sync."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent_server_infra import cli
from agent_server_infra.docs import GENERATED
from tests.helpers import ROOT, STACKS

BROKEN = """\
config:
  aws:region: us-east-1
  agent-server:network:
    vpcId: vpc-0123456789abcdef0
    subnetIds: [subnet-0123456789abcdef1]
    clientCidrs: [0.0.0.0/0]
  agent-server:postgres:
    engineVersion: "14.10"
  agent-server:redis:
    mode: single
    replicas: 9
  agent-server:server:
    image: registry.example.com/agents:1.0.0
    nJobsPerWorker: 0
    mountPrefix: agents/
    extraEnv: {REDIS_URI: "redis://elsewhere"}
  agent-server:licenseKey: plain-text-license
"""


@pytest.mark.parametrize("stack", STACKS)
def test_check_accepts_every_shipped_stack(stack: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.main(["check", stack]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert f"Pulumi.{stack}.yaml: ok" in out


def test_check_lists_every_mistake_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.broken.yaml"
    stack.write_text(BROKEN)
    assert cli.main(["check", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "agent-server:licenseKey: is a secret" in err
    stack.write_text(BROKEN.replace("  agent-server:licenseKey: plain-text-license\n", ""))
    assert cli.main(["check", str(stack)]) == 2
    err = capsys.readouterr().err
    for path in ("network.subnetIds", "network.clientCidrs[0]", "postgres.engineVersion", "redis.replicas",
                 "server.nJobsPerWorker", "server.mountPrefix", "server.extraEnv.REDIS_URI"):
        assert f"{stack}: agent-server:{path}: " in err, path
    assert err.startswith("7 config errors:")


def test_nested_secure_values_are_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.nested.yaml"
    stack.write_text("config:\n  agent-server:server:\n    image: r/x:1\n    token:\n      secure: v1:abc\n")
    assert cli.main(["check", str(stack)]) == 2
    assert "agent-server:server: must not contain secure values" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["- just\n- a list\n", "a plain string\n", "config: [1, 2]\n"])
def test_a_stack_file_that_is_not_a_mapping_is_an_error(text: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.odd.yaml"
    stack.write_text(text)
    assert cli.main(["check", str(stack)]) == 2
    assert f"{stack}: " in capsys.readouterr().err


def test_unknown_stack_name_is_an_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.main(["check", "nope"]) == 1
    assert "known: cluster, dev, prod, staging" in capsys.readouterr().err


def test_generated_docs_are_up_to_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.main(["docs", "--check"]) == 0, "run `uv run agent-server-infra docs`"


def test_docs_check_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["docs"]) == 0
    assert cli.main(["docs", "--check"]) == 0
    first = next(iter(GENERATED))
    (tmp_path / first).write_text("hand-edited\n")
    assert cli.main(["docs", "--check"]) == 1


def test_console_script_is_installed() -> None:
    result = subprocess.run(["agent-server-infra", "check", "dev"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
