"""Lint and type checks run as tests, so the README's single test command covers them."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyright_is_clean() -> None:
    result = run(sys.executable, "-m", "pyright")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
