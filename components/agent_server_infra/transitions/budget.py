"""Whether the Postgres connection budget holds in every state a change passes through.

A plan proves that the pools fit the database *it describes*. During a change the database that runs is not always
that one: the pools (the ConfigMaps, rolled into the pods) follow the new plan as soon as ``pulumi up`` reaches them,
while the instance takes a new class at the maintenance window when ``applyImmediately`` is false, and a new
``max_connections`` (a static parameter) only at a reboot nothing triggers. The Workload's pods roll only after the
store's update is done (they depend on it), so the states are:

- capacity applied during ``pulumi up``: the new instance while the old pods still run (``used_old ≤ usable_new``),
  then the roll;
- capacity applied later (window, reboot): the new pods against the instance still running (``used_new ≤
  usable_old``) until it changes.

Either way the other state is the plan's own, which validation proved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..sizing import Pods, largest_fitting_pool
from . import Finding
from .common import config_key
from .rds import PARAMETERS_GUIDE, SETTINGS_GUIDE

OVER_COMMIT_SOURCE = ("agent_server_infra.sizing (usable = ⌊(max_connections − reserved) × 0.90⌋) with the timing of "
                      f"the change: {SETTINGS_GUIDE}; {PARAMETERS_GUIDE}")


@dataclass(frozen=True)
class Side:
    """The Postgres budgets of every server on one database, in one plan."""

    budgets: tuple[Mapping[str, Any], ...]

    @property
    def capacity(self) -> int:
        return int(self.budgets[0]["capacity"])

    @property
    def usable(self) -> int:
        return int(self.budgets[0]["usable"])

    @property
    def used(self) -> int:
        return sum(int(budget["used"]) for budget in self.budgets)

    def pools(self) -> str:
        return ", ".join(str(budget["per_replica"]) for budget in self.budgets)


def capacity_findings(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], *, later: str,
                      applied_now: bool) -> list[Finding]:
    """Over-commit of a capacity change of one database: ``old``/``new`` are the Postgres budgets of the servers on
    it; ``applied_now`` whether the new capacity takes effect during ``pulumi up`` (before the pods roll), else
    ``later`` says when (``the maintenance window``, ``a reboot``). Nothing when a side has no budget or the capacity
    (``max_connections``) stays."""
    if not old or not new:
        return []
    before, after = Side(tuple(old)), Side(tuple(new))
    if before.capacity == after.capacity:
        return []
    if applied_now:
        if before.used <= after.usable:
            return []
        fit = _fitting_pools(before.budgets, after.usable)
        return [Finding(
            "over-commit",
            f"max_connections {before.capacity} → {after.capacity} takes effect during `pulumi up`, before the pods "
            f"roll: the running pools ({before.pools()} per pod) hold {before.used} connections at full scale, more "
            f"than the {after.usable} usable of {after.capacity}",
            f"two steps: first {fit} with the current instance and `pulumi up`; then change the instance",
            OVER_COMMIT_SOURCE)]
    if after.used <= before.usable:
        return []
    return [Finding(
        "over-commit",
        f"the pods roll now to pools of {after.pools()} ({after.used} connections at full scale) but the running "
        f"instance keeps max_connections {before.capacity} ({before.usable} usable) until {later}",
        (f"set {config_key('postgres.applyImmediately')}: true (the instance changes during `pulumi up`, before the "
         "pods roll), or " if later == "the maintenance window" else "")
        + f"two steps: pin {config_key('server.postgresPoolMaxSize')}: {before.pools()} (today's pool) with this "
        f"change, then unpin it once {later} has applied it", OVER_COMMIT_SOURCE)]


def _fitting_pools(budgets: Sequence[Mapping[str, Any]], usable: int) -> str:
    """How to make ``budgets`` fit ``usable``: the largest pool for one server, or a general instruction."""
    if len(budgets) != 1:
        return f"lower the pools of the servers on it until they add up to at most {usable}"
    inputs = budgets[0].get("inputs") or {}
    pods = Pods(api_max=int(inputs.get("api_max_replicas", 1)), queue_max=int(inputs.get("queue_max_replicas", 1)))
    pool = largest_fitting_pool(pods, usable, int(inputs.get("n_jobs_per_worker", 1)),
                                bool(inputs.get("isolated_loops", False)), usable,
                                int(inputs.get("keda_scaler_connections", 0)))
    return f"set {config_key('server.postgresPoolMaxSize')}: {pool} (what fits {usable} connections)"
