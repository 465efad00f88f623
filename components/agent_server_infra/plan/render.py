"""Readable tables of a plan document: resources, env per deployment (secrets masked), connection budgets and the
alarms derived from them."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..alarms import threshold_text


def _row(table: Table, *cells: str) -> None:
    """Add a row of literal text: values such as ``[secret]`` must not be read as rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _name_of(urn: str | None) -> str:
    return urn.split("::")[-1] if urn else ""


def resources_table(document: dict[str, Any]) -> Table:
    table = Table(title=f"Resources of {document['project']}/{document['stack']} ({len(document['resources'])})")
    for column in ("type", "name", "parent", "protect"):
        table.add_column(column)
    for resource in document["resources"]:
        _row(table, resource["type"], resource["name"], _name_of(resource["parent"]),
                      "yes" if resource["protect"] else "")
    return table


def env_table(deployment: dict[str, Any]) -> Table:
    roles = sorted(deployment["env"])
    table = Table(title=f"Environment of {deployment['name']}")
    table.add_column("variable")
    for role in roles:
        table.add_column(role)
    names = sorted({name for role in roles for name in deployment["env"][role]} | set(deployment["secretEnv"]))
    for name in names:
        if name in deployment["secretEnv"]:
            _row(table, name, *[str(deployment["secretEnv"][name])] * len(roles))
        else:
            _row(table, name, *[deployment["env"][role].get(name, "") for role in roles])
    return table


def budget_table(deployment: dict[str, Any]) -> Table:
    table = Table(title=f"Connection budget of {deployment['name']}")
    for column in ("store", "per replica", "used", "usable", "capacity", "usage", "formula"):
        table.add_column(column)
    for store, budget in sorted(deployment["budget"].items()):
        _row(table, store, str(budget["per_replica"]), str(budget["used"]), str(budget["usable"]),
                      str(budget["capacity"]), f"{budget['usage_percent']}%", budget["formula"])
    return table


def alarm_table(deployment: dict[str, Any]) -> Table:
    table = Table(title=f"Alarms of {deployment['name']}")
    for column in ("store", "metric", "statistic", "threshold", "targets", "from"):
        table.add_column(column)
    for alarm in deployment.get("alarms") or []:
        threshold = threshold_text(alarm["comparison"], alarm["threshold"], alarm["unit"])
        _row(table, alarm["store"], alarm["metric"], alarm["statistic"], threshold, str(alarm["targets"]),
             alarm["formula"])
    return table


def print_plan(document: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=200)
    console.print(resources_table(document))
    for deployment in document["deployments"]:
        console.print(env_table(deployment))
        console.print(budget_table(deployment))
        if deployment.get("alarms"):
            console.print(alarm_table(deployment))
