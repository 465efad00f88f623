"""The error a rule of a real API raises on a value the components composed (a physical name, a description).

Such a value is built from the user's config (a component name, a purpose, a CIDR), so a rule it breaks is a
user-reachable state: it is an exception of its own, never an ``assert`` that ``python -O`` strips and that would
let the value reach AWS or Kubernetes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class ApiRuleError(ValueError):
    """A value a rule of the real API refuses: names the value, what the rule says, and the rule's source."""

    def __init__(self, what: str, value: str, problems: Sequence[str], source: str) -> None:
        self.what = what
        self.value = value
        self.problems = list(problems)
        self.source = source
        super().__init__(f"{what} {value!r}: {'; '.join(self.problems)} (rule: {source})")


class ApiRule(Protocol):
    """A rule of a real API (a name rule, a free-text rule): what it governs, where it is stated, and why a value
    breaks it."""

    @property
    def what(self) -> str: ...

    @property
    def source(self) -> str: ...

    def problems(self, value: str) -> list[str]: ...


def checked(rule: ApiRule, value: str) -> str:
    """``value`` when ``rule`` accepts it; :class:`ApiRuleError` (value, rule, source) otherwise."""
    problems = rule.problems(value)
    if problems:
        raise ApiRuleError(rule.what, value, problems, rule.source)
    return value
