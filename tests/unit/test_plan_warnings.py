"""``plan`` reports each warning once: the stack program's own, and those about the file's other keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_server_infra import cli
from tests.helpers import ROOT


def test_each_warning_is_printed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      caplog: pytest.LogCaptureFixture) -> None:
    """The program's warnings reach the log (stderr in a process of its own), the file's on stderr."""
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    del document["config"]["agent-server:licenseKey"]
    document["config"]["agent_server:server"] = {}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(document))
    assert cli.main(["plan", str(path), "--quiet"]) == 0
    err = capsys.readouterr().err + caplog.text
    assert err.count("neither licenseKey nor langsmithApiKey is set") == 1, err
    assert err.count("namespace 'agent_server' is not 'agent-server'") == 1, err
