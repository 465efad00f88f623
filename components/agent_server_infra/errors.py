"""Config problems as values: every rule reports, nothing raises until all are collected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

NAMESPACE = "agent-server"

Severity = Literal["error", "warning"]
T = TypeVar("T")


def show(value: Any) -> str:
    """Render a config value the way it appears in an error: short and unambiguous."""
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Issue:
    """One broken rule: the config path (``server.nJobsPerWorker``), what the rule says, and its severity."""

    path: str
    message: str
    severity: Severity = "error"

    def render(self, source: str | None = None) -> str:
        key = (self.path if ":" in self.path.split(".")[0] else f"{NAMESPACE}:{self.path}") if self.path \
            else NAMESPACE  # a full key of another namespace is shown as it is
        prefix = f"{source}: " if source else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{prefix}{tag}{key}: {self.message}"


class ConfigError(ValueError):
    """Raised once, with every error of a stack config, before any resource is registered."""

    def __init__(self, issues: Iterable[Issue], source: str | None = None) -> None:
        self.issues = errors(issues)
        self.source = source
        super().__init__(self.report())

    def report(self) -> str:
        lines = [issue.render(self.source) for issue in self.issues]
        noun = "error" if len(lines) == 1 else "errors"
        return f"{len(lines)} config {noun}:\n" + "\n".join(f"  {line}" for line in lines)


def errors(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.severity == "error"]


def warnings(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.severity == "warning"]


def required(value: T | None, path: str, rule: str, source: str) -> T:
    """``value``, which validation requires at ``path``: a :class:`ConfigError` naming the path and the rule when it
    is missing (a component built around validation, from its private constructors), never an ``assert``."""
    if value is None:
        raise ConfigError([Issue(path, rule)], source)
    return value
