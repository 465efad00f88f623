"""Every resource of every shipped stack, the example and the generated variants obeys the real APIs' rules.

The rules (:mod:`tests.conformance.rules`) read what each recorded resource would send; names the program left to
Pulumi are read from the mock engine's auto-names, which follow pulumi-aws (``<name>-<7 hex>``, case kept).
"""

from __future__ import annotations

import pytest

from tests.conformance import rules
from tests.conformance.conftest import EXAMPLE_STACKS, Corpus
from tests.conformance.variants import VARIANTS
from tests.helpers import STACKS

PROGRAMS = (
    *(f"stack:{stack}" for stack in STACKS),
    *(f"example:{stack}" for stack in EXAMPLE_STACKS),
    *(f"variant:{variant.id}" for variant in VARIANTS),
)


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_resource_obeys_the_real_apis(program: str, corpus: Corpus) -> None:
    recording, _ = corpus(program)
    assert recording.resources, "the program registered nothing"
    found = rules.violations(recording)
    assert not found, "\n".join(found)


def test_every_rule_checks_something(corpus: Corpus) -> None:
    """No rule of the table is dead: each applies to at least one resource of the corpus."""
    applied = {rule.property + " @ " + rule.type: 0 for rule in rules.RULES}
    for program in PROGRAMS:
        recording, _ = corpus(program)
        for rule in rules.RULES:
            applied[rule.property + " @ " + rule.type] += sum(rule.applies(r) for r in recording.resources)
    assert all(applied.values()), [key for key, count in applied.items() if not count]


def test_account_scoped_names_are_unique_across_stacks(corpus: Corpus) -> None:
    """Every shipped stack, the example deployed as two stacks, and every variant, as if all ran in one account:
    stack names that clean up alike (``Prod_EU``/``prod-eu``) or share a 60-character head still differ."""
    clashes = rules.unique_names(corpus(program) for program in PROGRAMS)
    assert not clashes, "\n".join(clashes)


def test_the_example_names_differ_per_stack(corpus: Corpus) -> None:
    dev, prod = (corpus(f"example:{stack}")[0] for stack in EXAMPLE_STACKS)
    names = [{key for key, _ in rules.account_names(recording, "us-east-1")} for recording in (dev, prod)]
    assert names[0]
    assert names[1]
    assert not names[0] & names[1]
