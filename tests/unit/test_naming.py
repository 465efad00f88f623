"""Physical names: every kind obeys its API's rule, valid names never move, cleaned or shortened ones never
collide."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_server_infra import naming

STACK_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", min_size=1,
                      max_size=100)
"""Every valid Pulumi stack name ([A-Za-z0-9_.-]{1,100})."""
IDENTIFIERS = (naming.RDS_INSTANCE, naming.RDS_SNAPSHOT, naming.ELASTICACHE_GROUP, naming.ELASTICACHE_SNAPSHOT,
               naming.RDS_PARAMETER_GROUP, naming.ELASTICACHE_PARAMETER_GROUP, naming.K8S_DNS_LABEL,
               naming.K8S_DNS1123_LABEL, naming.K8S_SUBDOMAIN, naming.K8S_LABEL_VALUE)


@given(stack=STACK_NAMES)
def test_any_stack_name_gives_valid_names_of_every_kind(stack: str) -> None:
    base = naming.scoped(f"agent-server-{stack}-redis", "agent-server", stack)
    for rule in IDENTIFIERS:
        assert rule.problems(naming.physical(rule, base)) == [], rule.what
    assert naming.ELASTICACHE_SUBNET_GROUP.problems(naming.logical(base) + "-subnets-0123abc") == []
    assert naming.RDS_SUBNET_GROUP.problems(naming.logical(base) + "-subnets-0123abc") == []
    assert naming.K8S_DNS_LABEL.problems(naming.kubernetes(base, reserve=6) + "-queue") == []


@given(a=STACK_NAMES, b=STACK_NAMES)
def test_different_names_never_share_a_physical_name(a: str, b: str) -> None:
    if a != b:
        assert naming.physical(naming.ELASTICACHE_GROUP, a) != naming.physical(naming.ELASTICACHE_GROUP, b)


def test_valid_names_are_kept() -> None:
    assert naming.physical(naming.RDS_INSTANCE, "agent-server-prod-postgres") == "agent-server-prod-postgres"
    assert naming.logical("agent-server-dev-redis") == "agent-server-dev-redis"
    assert naming.kubernetes("agent-server-dev-workload", reserve=6) == "agent-server-dev-workload"
    assert naming.label_value("Agent_Server.1") == "Agent_Server.1"


def test_cleaned_twins_differ_and_keep_a_readable_head() -> None:
    upper = naming.physical(naming.RDS_INSTANCE, "agent-server-Prod_EU-postgres")
    lower = naming.physical(naming.RDS_INSTANCE, "agent-server-prod-eu-postgres")
    assert lower == "agent-server-prod-eu-postgres"
    assert upper.startswith("agent-server-prod-eu-postgres-")
    assert upper != lower
    long_one = naming.physical(naming.ELASTICACHE_GROUP, "x" * 60 + "-one")
    long_two = naming.physical(naming.ELASTICACHE_GROUP, "x" * 60 + "-two")
    assert len(long_one) == len(long_two) == 40
    assert long_one != long_two


def test_scoping_adds_project_and_stack_once() -> None:
    assert naming.scoped("agent-server-dev-postgres", "agent-server", "dev") == "agent-server-dev-postgres"
    assert naming.scoped("support-postgres", "shared-redis", "prod") == "shared-redis-prod-support-postgres"


@pytest.mark.parametrize(("rule", "name", "problem"), [
    (naming.RDS_INSTANCE, "a--b", "must match"),
    (naming.RDS_INSTANCE, "a" * 64, "1-63"),
    (naming.RDS_SUBNET_GROUP, "default", "must match"),
    (naming.SECURITY_GROUP, "sg-data", "must not start with 'sg-'"),
    (naming.LOG_GROUP, "/aws/elasticache/a b", "must match"),
    (naming.K8S_LABEL_VALUE, "-x", "must match"),
])
def test_rules_refuse_what_the_api_refuses(rule: naming.NameRule, name: str, problem: str) -> None:
    assert any(problem in found for found in rule.problems(name))


def test_a_tail_with_no_room_is_an_error() -> None:
    with pytest.raises(ValueError, match="no room"):
        naming.fit("abc", 10, "-final-0123abcd")
