"""The markdown of a plan diff, for a pull request comment: what :func:`~agent_server_infra.plan.diff.diff_documents`
computed, shown (the change-safety verdict first, with each finding's reason and the way through, then resources,
environment, budgets and outputs).

Values never appear for secrets: the diff reports a secret variable only as changed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from ..transitions import BLOCKING, EFFECT_MEANINGS, EFFECTS
from ..transitions.assess import Assessed
from .diff import PlanDiff, ResourceChange

MAX_PATHS = 6
MAX_VALUE = 80


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    ticks = "``" if "`" in text else "`"
    pad = " " if ticks == "``" else ""
    return _cell(f"{ticks}{pad}{text}{pad}{ticks}")


def provider_counts(types: Iterable[str]) -> str:
    """``3 aws, 9 kubernetes``: how many of the resource types are each provider's, by provider name."""
    providers = Counter(type_.split(":", 1)[0] for type_ in types)
    return ", ".join(f"{count} {provider}" for provider, count in sorted(providers.items()))


def _counts(resources: Iterable[Mapping[str, Any] | ResourceChange]) -> str:
    return provider_counts(resource.type if isinstance(resource, ResourceChange) else resource["type"]
                           for resource in resources)


def _summary(diff: PlanDiff) -> str:
    parts = [f"**{len(diff.added)}** to add", f"**{len(diff.removed)}** to delete",
             f"**{len(diff.changed)}** to change"]
    line = " · ".join(parts)
    details = [f"{label}: {_counts(items)}" for label, items in
               (("add", diff.added), ("delete", diff.removed), ("change", diff.changed)) if items]
    if details:
        line += f" ({'; '.join(details)})"
    extras = []
    if diff.env:
        deployments = len({change.deployment for change in diff.env})
        extras.append(f"{len(diff.env)} environment variable change(s) in {deployments} deployment(s)")
    if diff.budgets:
        extras.append(f"{len(diff.budgets)} connection budget change(s)")
    if diff.outputs:
        extras.append(f"{len(diff.outputs)} stack output change(s)")
    return line + ("  \n" + " · ".join(extras) if extras else "")


NOTABLE = frozenset(EFFECTS) - {"immediate"}
"""Effects worth a line of their own in the report (a plain in-place update is not)."""


def _safety_section(diff: PlanDiff, allowed: frozenset[str]) -> list[str]:
    """The verdict (blocked or not) and every change with an effect beyond ``immediate``, with its reasons and the
    way through; nothing when every change simply applies during `pulumi up`."""
    notable = [item for item in diff.assessed if (set(item.effects) & NOTABLE and not item.routine)
               or any(finding.weakens for finding in item.findings)]
    blocking = diff.blocking(allowed)
    if not notable and not blocking:
        return []
    lines = ["> [!CAUTION]" if blocking else "> [!WARNING]"]
    if blocking:
        lines.append(f"> **Blocked: {', '.join(blocking)}.** " + "; ".join(
            f"{effect}: {EFFECT_MEANINGS[effect]}" for effect in blocking) + ". Take the way through below, or "
            f"accept it deliberately: `agent-server-infra diff --allow {blocking[0]}`.")
    else:
        lines.append("> **Not blocked**, but these changes do more than update in place, or switch off a safety net:")
    accepted = sorted(set(allowed) & BLOCKING & {effect for item in notable for effect in item.effects})
    if accepted:
        lines.append(f"> Allowed deliberately: {', '.join(accepted)}.")
    if diff.renamed_stack is not None:
        lines.append(f"> The stack is renamed {diff.renamed_stack[0]} → {diff.renamed_stack[1]}: URNs are compared as "
                     "`pulumi stack rename` rewrites them.")
    for item in notable:
        lines += [">", f"> - **{item.action}** `{item.type}` **{item.name}**: {_effects(item, allowed)}"]
        for finding in item.findings:
            if finding.effect == "immediate" and not (finding.way or finding.weakens) and len(item.findings) > 1:
                continue
            way = f" **Way through:** {finding.way}" if finding.way else ""
            lines.append(f">   - `{finding.effect}` {_cell(finding.message)}.{way}")
    return [*lines, ""]


def _effects(item: Assessed, allowed: frozenset[str]) -> str:
    blocking = item.blocking(allowed)
    return ", ".join(f"**`{effect}`**" if effect in blocking else f"`{effect}`" for effect in item.effects)


def _resource_section(diff: PlanDiff) -> list[str]:
    rows: list[tuple[str, str, str, str]] = []
    rows += [("+", resource["type"], resource["name"], "") for resource in diff.added]
    rows += [("−", resource["type"], resource["name"], "protected" if resource.get("protect") else "")
             for resource in diff.removed]
    replaced = diff.replaced
    for change in diff.changed:
        paths = change.paths
        shown = ", ".join(f"`{path}`" for path in paths[:MAX_PATHS])
        if len(paths) > MAX_PATHS:
            shown += f", … {len(paths) - MAX_PATHS} more"
        rows.append(("±" if change.urn in replaced else "~", change.type, change.name, shown))
    if not rows:
        return []
    lines = ["### Resources", "", "`+` create · `−` delete · `~` update in place · `±` replace", "",
             "| | type | name | changed inputs |", "|---|---|---|---|"]
    lines += [f"| {mark} | `{type_}` | {_cell(name)} | {_cell(paths)} |" for mark, type_, name, paths in rows]
    lines.append("")
    details = [change for change in diff.changed if change.inputs or change.protect or change.dependencies_added
               or change.dependencies_removed or change.parent]
    if details:
        lines += ["<details><summary>Input changes</summary>", ""]
        for change in details:
            lines += [f"**`{change.type}` {change.name}**", "", "| path | before | after |", "|---|---|---|"]
            lines += [f"| `{_cell(item.path)}` | {_code(item.before)} | {_code(item.after)} |"
                      for item in change.inputs]
            if change.protect is not None:
                lines.append(f"| (protect) | `{str(change.protect[0]).lower()}` | `{str(change.protect[1]).lower()}` |")
            if change.parent is not None:
                lines.append(f"| (parent) | {_code(change.parent[0])} | {_code(change.parent[1])} |")
            for urn in change.dependencies_removed:
                lines.append(f"| (dependencies) | {_code(urn.split('::')[-1])} | — |")
            for urn in change.dependencies_added:
                lines.append(f"| (dependencies) | — | {_code(urn.split('::')[-1])} |")
            lines.append("")
        lines += ["</details>", ""]
    return lines


def _env_section(diff: PlanDiff) -> list[str]:
    if not (diff.env or diff.secrets_maybe_changed or diff.deployments_added or diff.deployments_removed):
        return []
    lines = ["### Environment", ""]
    for name in diff.deployments_added:
        lines.append(f"- deployment **{name}** is new")
    for name in diff.deployments_removed:
        lines.append(f"- deployment **{name}** is removed")
    if diff.deployments_added or diff.deployments_removed:
        lines.append("")
    for deployment in sorted({change.deployment for change in diff.env}):
        lines += [f"**{deployment}**", "", "| variable | role | before | after |", "|---|---|---|---|"]
        for change in (item for item in diff.env if item.deployment == deployment):
            if change.secret:
                before = "[secret]" if change.before is not None else "—"
                after = {"added": "[secret] (added)", "removed": "— (removed)", "changed": "changed"}[change.kind]
                lines.append(f"| `{change.name}` | all (secret) | {before} | **{after}** |")
            else:
                lines.append(f"| `{change.name}` | {change.role} | {_code(change.before)} | {_code(change.after)} |")
        lines.append("")
    for deployment in diff.secrets_maybe_changed:
        lines += [f"- **{deployment}**: the generated Secret changed, so a secret value changed (these plans carry "
                  "no per-variable fingerprints to say which)", ""]
    return lines


def _budget_section(diff: PlanDiff) -> list[str]:
    if not diff.budgets:
        return []
    lines = ["### Connection budget", "", "| deployment | store | per replica | used / usable | capacity | usage |",
             "|---|---|---|---|---|---|"]

    def pair(before: Any, after: Any, suffix: str = "") -> str:
        a = "—" if before is None else f"{before}{suffix}"
        b = "—" if after is None else f"{after}{suffix}"
        return a if a == b else f"{a} → **{b}**"

    for change in diff.budgets:
        a, b = change.before or {}, change.after or {}
        lines.append(
            f"| {change.deployment} | {change.store} | {pair(a.get('per_replica'), b.get('per_replica'))} | "
            f"{pair(a.get('used'), b.get('used'))} / {pair(a.get('usable'), b.get('usable'))} | "
            f"{pair(a.get('capacity'), b.get('capacity'))} | "
            f"{pair(a.get('usage_percent'), b.get('usage_percent'), '%')} |")
    formulas = [(change, (change.after or {}).get("formula")) for change in diff.budgets]
    lines.append("")
    lines += [f"- {change.deployment} {change.store}: {_cell(str(formula))}" for change, formula in formulas if formula]
    return [*lines, ""]


def _outputs_section(diff: PlanDiff) -> list[str]:
    if not diff.outputs:
        return []
    lines = ["### Stack outputs", "", "| output | before | after |", "|---|---|---|"]
    lines += [f"| `{_cell(item.path)}` | {_code(item.before)} | {_code(item.after)} |" for item in diff.outputs]
    return [*lines, ""]


def diff_markdown(diff: PlanDiff, allowed: frozenset[str] = frozenset()) -> str:
    """The report; ``allowed`` are the effects accepted deliberately (``--allow``)."""
    title = diff.new_label if diff.old_label == diff.new_label else f"{diff.old_label} → {diff.new_label}"
    lines = [f"## Plan diff: `{title}`", ""]
    if not diff.has_changes:
        return "\n".join([*lines, "no changes", ""])
    lines += _safety_section(diff, allowed)
    lines += [_summary(diff), ""]
    lines += _resource_section(diff)
    lines += _env_section(diff)
    lines += _budget_section(diff)
    lines += _outputs_section(diff)
    return "\n".join(lines).rstrip("\n") + "\n"
