"""The conformance corpus: each shipped stack, the example as two stacks and every variant, planned once."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from agent_server_infra.plan.engine import Recording
from agent_server_infra.plan.stack import plan_stack
from tests.conformance.variants import VARIANTS, Variant
from tests.helpers import ROOT, write_modified_stack

EXAMPLE = ROOT / "examples" / "shared-redis"
EXAMPLE_STACKS = ("dev", "prod")
"""The example's one stack file, planned as two stacks: the same program deployed twice in one account."""

Planned = tuple[Recording, str]
Corpus = Callable[[str], Planned]


def _region(path: Path) -> str:
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return str(config.get("aws:region") or "us-east-1")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Each program of the tier planned once: ``stack:<name>``, ``example:<stack>``, ``variant:<id>``."""
    cache: dict[str, Planned] = {}
    variants = {variant.id: variant for variant in VARIANTS}

    def get(key: str) -> Planned:
        if key in cache:
            return cache[key]
        kind, _, name = key.partition(":")
        if kind == "stack":
            path = ROOT / "stacks" / f"Pulumi.{name}.yaml"
            cache[key] = (plan_stack(str(path)), _region(path))
        elif kind == "example":
            directory = tmp_path_factory.mktemp(f"example-{name}")
            path = directory / f"Pulumi.{name}.yaml"
            shutil.copy(EXAMPLE / "Pulumi.dev.yaml", path)
            cache[key] = (plan_stack(str(path), program=EXAMPLE / "__main__.py"), _region(path))
        else:
            variant: Variant = variants[name]
            path = write_modified_stack(tmp_path_factory.mktemp(variant.id), variant.base, variant.changes,
                                        name=variant.stack)
            cache[key] = (plan_stack(str(path), program=ROOT / "__main__.py"), _region(path))
        return cache[key]

    return get


