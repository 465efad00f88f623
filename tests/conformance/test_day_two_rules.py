"""The day-2 rules of the conformance table find what AWS refuses: each case breaks one argument of a planned
variant (provisioned storage, blue/green, the AUTH token strategy, a data-tiering node) and expects its rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from agent_server_infra.plan.engine import Recording
from tests.conformance import rules
from tests.conformance.conftest import Corpus


def _set(type_: str, key: str, value: Any) -> Callable[[Recording], None]:
    """Set an input (``None``: leave it unset, in the inputs and in the mocks' state that echoes them)."""
    def change(recording: Recording) -> None:
        resource = recording.one(type_)
        if value is None:
            resource.wire_inputs.pop(key, None)
            resource.wire_outputs.pop(key, None)
        else:
            resource.wire_inputs[key] = value
    return change


def _no_logical_replication(recording: Recording) -> None:
    group = recording.one(rules.RDS_PARAMS)
    group.wire_inputs["parameters"] = [item for item in group.wire_inputs["parameters"]
                                       if item["name"] != "rds.logical_replication"]


@pytest.mark.parametrize(("variant", "change", "expected"), [
    ("io1-storage", _set(rules.RDS, "iops", None), "io1 needs provisioned iops"),
    ("io1-storage", _set(rules.RDS, "iops", 100_000), "io1 needs provisioned iops within 1000-5000"),
    ("gp3-provisioned", _set(rules.RDS, "allocatedStorage", 200), "below 400 GiB"),
    ("gp3-provisioned", _set(rules.RDS, "storageThroughput", None), "together"),
    ("gp3-provisioned", _set(rules.RDS, "storageThroughput", 3100), "outside what RDS takes"),
    ("blue-green", _set(rules.RDS, "backupRetentionPeriod", 0), "without automated backups"),
    ("blue-green", _no_logical_replication, "without rds.logical_replication"),
    ("redis-token-rotated", _set(rules.GROUP, "authTokenUpdateStrategy", "DELETE"), "DELETE only moves"),
    ("redis-token-rotated", _set(rules.GROUP, "authTokenUpdateStrategy", "REPLACE"), "is not ROTATE, SET"),
    ("redis-token-rotated", _set(rules.GROUP, "nodeType", "cache.r6gd.xlarge"), "only with dataTieringEnabled"),
])
def test_a_broken_argument_is_found(corpus: Corpus, variant: str, change: Callable[[Recording], None],
                                    expected: str) -> None:
    recording = copy.deepcopy(corpus(f"variant:{variant}")[0])
    assert not rules.violations(recording)
    change(recording)
    found = rules.violations(recording)
    assert any(expected in message for message in found), found
