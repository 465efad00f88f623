"""A plan document as a PR-ready markdown report (``plan STACK --markdown PATH``).

Sections: a summary (resources by provider and type, protected count), a Mermaid graph of the components and what
they create, the resources table, then per deployment its connection budget and environment. Values come from the
document as written: secrets read ``[secret]`` unless the plan was run with ``--show-secrets``.

The graph stays readable at any size: one node per component (``agent-server-infra:index:*``), one node per type
of resource a component creates (``SecurityGroup ×2``), solid edges for "contains" and dotted edges for
dependencies that cross components (the stores feed the workload's Secret).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..alarms import threshold_text
from ..transitions.common import descends, parent_map
from .diff import plan_label
from .diff_markdown import provider_counts

COMPONENT_PREFIX = "agent-server-infra:index:"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    text = _cell(value)
    if not text:
        return ""
    return f"``{text}``" if "`" in text else f"`{text}`"


def _short_type(type_: str) -> str:
    """``aws:rds/instance:Instance`` → ``Instance``; ``kubernetes:apps/v1:Deployment`` → ``Deployment``."""
    return type_.rsplit(":", 1)[-1]


def _module(type_: str) -> str:
    """``aws:rds/instance:Instance`` → ``aws:rds``; ``kubernetes:apps/v1:Deployment`` → ``kubernetes:apps/v1``."""
    provider, _, rest = type_.partition(":")
    return f"{provider}:{rest.split(':', 1)[0].split('/')[0]}" if provider != "kubernetes" else \
        f"{provider}:{rest.split(':', 1)[0]}"


def _name(urn: str | None) -> str:
    return urn.rsplit("::", 1)[-1] if urn else ""


# ------------------------------------------------------------------------------------------------ graph

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class _Ids:
    """Mermaid node ids: letters, digits and ``_`` only, unique, never a Mermaid keyword (always prefixed)."""

    def __init__(self) -> None:
        self.by_key: dict[str, str] = {}
        self.used: set[str] = set()

    def __call__(self, key: str, prefix: str, hint: str) -> str:
        if key not in self.by_key:
            base = f"{prefix}_{_UNSAFE.sub('_', hint)}"
            candidate, number = base, 2
            while candidate in self.used:
                candidate, number = f"{base}_{number}", number + 1
            self.used.add(candidate)
            self.by_key[key] = candidate
        return self.by_key[key]


def _label(text: str) -> str:
    """A Mermaid label in double quotes (``"`` and brackets are written as entities)."""
    return text.replace('"', "#quot;").replace("[", "#91;").replace("]", "#93;")


def mermaid_graph(document: Mapping[str, Any]) -> str:
    """``graph TD`` of components, the resource types each creates, containment and cross-component feeds."""
    resources: list[Mapping[str, Any]] = document["resources"]
    by_urn = {resource["urn"]: resource for resource in resources}
    parents = parent_map(resources)
    components = [resource for resource in resources if resource["type"].startswith(COMPONENT_PREFIX)]
    component_urns = {resource["urn"] for resource in components}

    def depth(resource: Mapping[str, Any]) -> int:
        return 0 if not resource.get("parent") else 1 + depth(by_urn.get(resource["parent"]) or {})

    components.sort(key=lambda resource: (depth(resource), resource["name"]))

    def owner(resource: Mapping[str, Any]) -> str | None:
        """The nearest component at or above a resource (a rule belongs to its security group's component)."""
        parent = resource.get("parent")
        while parent and parent not in component_urns:
            parent = (by_urn.get(parent) or {}).get("parent")
        return parent

    ids = _Ids()
    nodes: list[str] = []
    edges: list[str] = []
    seen_edges: set[tuple[str, str, str]] = set()

    def edge(a: str, b: str, arrow: str = "-->") -> None:
        if a != b and (a, b, arrow) not in seen_edges:
            seen_edges.add((a, b, arrow))
            edges.append(f"    {a} {arrow} {b}")

    node_of: dict[str, str] = {}
    """The graph node of every resource: its own for a component, its type's group node otherwise."""
    for component in components:
        node = node_of[component["urn"]] = ids(component["urn"], "c", component["name"])
        nodes.append(f'    {node}["{_label(_short_type(component["type"]))}<br/>{_label(component["name"])}"]')
    groups: dict[tuple[str | None, str], list[Mapping[str, Any]]] = {}
    for resource in resources:
        if resource["urn"] in component_urns:
            continue
        groups.setdefault((owner(resource), resource["type"]), []).append(resource)
    for (component_urn, type_), members in sorted(groups.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        node = ids(f"{component_urn}|{type_}", "t", f"{_name(component_urn)}_{_short_type(type_)}")
        count = f" ×{len(members)}" if len(members) > 1 else ""
        protected = " 🔒" if any(member.get("protect") for member in members) else ""
        nodes.append(f'    {node}["{_label(_module(type_))}<br/>{_label(_short_type(type_))}{count}{protected}"]')
        for member in members:
            node_of[member["urn"]] = node
        if component_urn is not None:
            edge(node_of[component_urn], node)
    for component in components:
        parent = owner(component)
        if parent is not None:
            edge(node_of[parent], node_of[component["urn"]])
    for resource in resources:
        mine = owner(resource) if resource["urn"] not in component_urns else resource["urn"]
        for dependency in resource.get("dependencies") or []:
            if dependency not in node_of:  # outside the plan
                continue
            theirs = owner(by_urn[dependency]) if dependency not in component_urns else dependency
            if mine != theirs and not (dependency in component_urns and descends(parents, resource["urn"], dependency)):
                edge(node_of[dependency], node_of[resource["urn"]], "-.->")
    return "\n".join(["graph TD", *nodes, *edges])


# ------------------------------------------------------------------------------------------------ sections


def _summary(document: Mapping[str, Any]) -> list[str]:
    resources: list[Mapping[str, Any]] = document["resources"]
    types = Counter(resource["type"] for resource in resources)
    protected = [resource for resource in resources if resource.get("protect")]
    lines = [
        f"**{len(resources)} resources** ({provider_counts(types.elements())})"
        f" · **{len(protected)} protected**"
        + (f" ({', '.join(resource['name'] for resource in protected)})" if protected else "")
        + f" · **{len(document['deployments'])} deployment(s)**",
        "",
        "| provider | type | count |",
        "|---|---|---|",
    ]
    lines += [f"| {type_.split(':', 1)[0]} | `{type_}` | {count} |" for type_, count in sorted(types.items())]
    return [*lines, ""]


def _resources_table(document: Mapping[str, Any]) -> list[str]:
    lines = ["<details><summary>Resources</summary>", "", "| type | name | parent | protect |", "|---|---|---|---|"]
    lines += [f"| `{resource['type']}` | {_cell(resource['name'])} | {_cell(_name(resource.get('parent')))} | "
              f"{'🔒 yes' if resource.get('protect') else ''} |" for resource in document["resources"]]
    return [*lines, "", "</details>", ""]


def _budget(deployment: Mapping[str, Any]) -> list[str]:
    budget: Mapping[str, Mapping[str, Any]] = deployment.get("budget") or {}
    if not budget:
        return []
    lines = ["| store | per replica | used / usable | capacity | usage |", "|---|---|---|---|---|"]
    for store, item in sorted(budget.items()):
        lines.append(f"| {store} | {item.get('per_replica')} | {item.get('used')} / {item.get('usable')} | "
                     f"{item.get('capacity')} | **{item.get('usage_percent')}%** |")
    lines.append("")
    lines += [f"- {store}: {_cell(item.get('formula', ''))}" for store, item in sorted(budget.items())]
    return [*lines, ""]


def _alarms(deployment: Mapping[str, Any]) -> list[str]:
    alarms: list[Mapping[str, Any]] = deployment.get("alarms") or []
    if not alarms:
        return []
    lines = ["#### Alarms", "", "| store | metric | statistic | threshold | targets | from |",
             "|---|---|---|---|---|---|"]
    for alarm in alarms:
        threshold = threshold_text(alarm["comparison"], alarm["threshold"], alarm["unit"])
        lines.append(f"| {alarm['store']} | `{alarm['metric']}` | {alarm['statistic']} | {threshold} | "
                     f"{alarm['targets']} | {_cell(alarm['formula'])} |")
    return [*lines, ""]


def _environment(deployment: Mapping[str, Any]) -> list[str]:
    env: Mapping[str, Mapping[str, str]] = deployment.get("env") or {}
    secrets: Mapping[str, Any] = deployment.get("secretEnv") or {}
    roles = sorted(env)
    if not roles and not secrets:
        return []
    lines = [f"| variable | {' | '.join(roles) or 'value'} |", "|---|" + "---|" * max(len(roles), 1)]
    names = sorted({name for role in roles for name in env[role]} | set(secrets))
    for name in names:
        if name in secrets:
            cells = [f"🔑 {_code(secrets[name])}"] * max(len(roles), 1)
        else:
            cells = [_code(env[role].get(name, "")) for role in roles]
        lines.append(f"| `{name}` | {' | '.join(cells)} |")
    return [*lines, ""]


def _outputs(document: Mapping[str, Any]) -> list[str]:
    outputs: Mapping[str, Any] = document.get("outputs") or {}
    scalars = {key: value for key, value in sorted(outputs.items()) if not isinstance(value, dict | list)}
    if not scalars:
        return []
    lines = ["### Stack outputs", "", "| output | value |", "|---|---|"]
    lines += [f"| `{key}` | {_code(value)} |" for key, value in scalars.items()]
    structured = [key for key, value in sorted(outputs.items()) if isinstance(value, dict | list)]
    if structured:
        lines += ["", f"Structured outputs (shown above per deployment): {', '.join(f'`{key}`' for key in structured)}"]
    return [*lines, ""]


def plan_markdown(document: Mapping[str, Any]) -> str:
    """The report, ending with a newline. Deterministic: the same document gives the same text."""
    lines = [f"## Plan: `{plan_label(document)}`", "", "Planned offline under the mock engine (no cloud access).", ""]
    lines += _summary(document)
    lines += ["### Components", "", "Solid: contains · dotted: feeds (a dependency across components) · 🔒 protected",
              "", "```mermaid", mermaid_graph(document), "```", ""]
    lines += _resources_table(document)
    for deployment in document["deployments"]:
        lines += [f"### Deployment `{deployment['name']}`", "", "#### Connection budget", ""]
        lines += _budget(deployment)
        lines += _alarms(deployment)
        lines += ["#### Environment", "", "🔑 secret (masked unless planned with `--show-secrets`)", ""]
        lines += _environment(deployment)
    lines += _outputs(document)
    return "\n".join(lines).rstrip("\n") + "\n"


def mermaid_blocks(markdown: str) -> list[str]:
    """The bodies of the ```` ```mermaid ```` blocks of a markdown text."""
    return re.findall(r"```mermaid\n(.*?)\n```", markdown, flags=re.DOTALL)
