"""What a change to a deployed stack really does: the update rules of the real providers, each with its source.

The create rules (what AWS and Kubernetes accept at all) live in :mod:`agent_server_infra.naming` and
:mod:`agent_server_infra.provider_rules`; these are the rules of the *second* ``pulumi up``. The providers decide what
a change does (terraform-provider-aws ``resource*Update``, ``CustomizeDiff`` and ``ForceNew``, bridged by pulumi-aws;
pulumi-terraform-bridge's delete-before-replace; pulumi-kubernetes ``diff.go``), the AWS user guides say when AWS
applies it, and the Agent Server decides what a changed variable does to running work. Each rule answers with
:class:`Finding`\\ s whose effects come from one vocabulary, :data:`EFFECTS`; ``agent-server-infra diff`` blocks a
change whose effects include one of :data:`BLOCKING`, unless it is allowed deliberately.

Pure: the rules read plan documents (``plan --json``: resource types and their inputs in the engine's camelCase,
deployments with their budgets and environment); no Pulumi, no pydantic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Effect = Literal["immediate", "deferred", "needs-reboot", "restart", "replace", "replace-delete-first", "data-loss",
                 "fails", "disruption", "over-commit"]
EFFECTS: tuple[Effect, ...] = ("immediate", "deferred", "needs-reboot", "restart", "replace", "replace-delete-first",
                               "data-loss", "fails", "disruption", "over-commit")
"""The vocabulary, in the order reports list it."""
EFFECT_MEANINGS: dict[Effect, str] = {
    "immediate": "applied during `pulumi up`",
    "deferred": "accepted now, applied by AWS at the next maintenance window",
    "needs-reboot": "applied only after a reboot nothing triggers",
    "restart": "the store restarts or fails over",
    "replace": "replaced: the new one is created before the old one is deleted",
    "replace-delete-first": "replaced: the old one is deleted before the new one is created",
    "data-loss": "the store's data does not survive (a snapshot may)",
    "fails": "the real provider refuses it: `pulumi up` fails",
    "disruption": "in-flight work, streams or the endpoint break during the change",
    "over-commit": "at some moment the pools exceed the connections the running store accepts",
}
BLOCKING: frozenset[Effect] = frozenset({"fails", "data-loss", "over-commit"})
"""Effects that block a change unless allowed (``diff --allow EFFECT``)."""
REPLACING: frozenset[Effect] = frozenset({"replace", "replace-delete-first"})
"""Effects of a resource that Pulumi replaces rather than updates in place (its action is then ``replace``)."""

Action = Literal["create", "update", "replace", "delete"]


@dataclass(frozen=True)
class Finding:
    """One thing a change does: its effect, why (``message``), the way through when it should not be done as it
    is (``way``: the key to set, or the steps to take) and the rule's source."""

    effect: Effect
    message: str
    way: str = ""
    source: str = ""
    weakens: bool = False
    """The change switches off a safety net (protection, final snapshots, backups): worth a reviewer's eye even when
    it applies in place."""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"effect": self.effect, "message": self.message}
        if self.way:
            data["way"] = self.way
        if self.source:
            data["source"] = self.source
        if self.weakens:
            data["weakens"] = True
        return data


def effects_of(findings: Iterable[Finding]) -> list[Effect]:
    """The distinct effects of ``findings`` in vocabulary order."""
    present = {finding.effect for finding in findings}
    return [effect for effect in EFFECTS if effect in present]


def blocking(findings: Iterable[Finding], allowed: Iterable[str] = ()) -> list[Effect]:
    """The effects of ``findings`` that block the change (those of :data:`BLOCKING` not in ``allowed``), in
    vocabulary order."""
    accepted = set(allowed)
    return [effect for effect in effects_of(findings) if effect in BLOCKING and effect not in accepted]
