"""Connection budgets: RDS table, derived pools (never over capacity), isolated loops, surge, shared Redis."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agent_server_infra import sizing
from agent_server_infra.sizing import Pods, RedisUser, SizingError


def test_rds_max_connections_follows_the_rds_formula() -> None:
    # LEAST(DBInstanceClassMemory / 9531392, 5000) with DBInstanceClassMemory ≈ 92 % of nominal memory.
    assert sizing.rds_max_connections("db.t4g.medium") == int(4 * 1024**3 * 0.92 // 9531392)
    assert sizing.rds_max_connections("db.r6g.large") == int(16 * 1024**3 * 0.92 // 9531392)
    assert sizing.rds_max_connections("db.r6g.16xlarge") == 5000


def test_unknown_class_names_known_ones() -> None:
    with pytest.raises(SizingError) as caught:
        sizing.rds_max_connections("db.z1.tiny")
    assert caught.value.path == "postgres.instanceClass"
    assert "db.t4g.medium" in caught.value.message


def test_usable_keeps_reserved_and_headroom() -> None:
    assert sizing.usable_postgres_connections(105) == 90


@pytest.mark.parametrize(("replicas", "expected"), [(1, 1), (4, 1), (5, 2), (10, 3), (12, 3)])
def test_surge_is_a_quarter_rounded_up(replicas: int, expected: int) -> None:
    assert sizing.surge(replicas) == expected


def test_surge_is_counted_in_the_budget() -> None:
    budget = sizing.postgres_budget(max_connections=1000, pods=Pods(4, 4), n_jobs_per_worker=10,
                                    isolated_loops=False, pool_max_size=10)
    # 4 api + 1 surge, 4 queue + 1 surge = 10 pods
    assert budget.used == 100
    assert budget.inputs["api_surge"] == 1


def test_explicit_pool_over_budget_is_rejected_with_numbers() -> None:
    with pytest.raises(SizingError) as caught:
        sizing.postgres_budget(max_connections=200, pods=Pods(2, 2), n_jobs_per_worker=10,
                               isolated_loops=False, pool_max_size=100)
    assert "600 > usable 175" in caught.value.message
    assert "≤ 29 fits" in caught.value.message


@pytest.mark.parametrize(("max_connections", "pods", "isolated", "floor"), [
    (172, Pods(1, 1), True, 30),  # 27 would fit the budget, but isolated loops need 10 workers × 3
    (25, Pods(10, 10), False, 1),  # not even a pool of 1 fits
])
def test_an_explicit_pool_is_never_told_to_shrink_below_what_is_allowed(
        max_connections: int, pods: Pods, isolated: bool, floor: int) -> None:
    with pytest.raises(SizingError) as caught:
        sizing.postgres_budget(max_connections=max_connections, pods=pods, n_jobs_per_worker=10,
                               isolated_loops=isolated, pool_max_size=30)
    assert "fits)" not in caught.value.message
    assert f"no postgresPoolMaxSize ≥ {floor} fits" in caught.value.message


def test_derived_pool_is_capped_at_150() -> None:
    budget = sizing.postgres_budget(max_connections=5000, pods=Pods(1, 1), n_jobs_per_worker=10,
                                    isolated_loops=False)
    assert budget.per_replica == 150


def test_isolated_loops_double_queue_connections() -> None:
    assert sizing.queue_connections(40, 10, isolated_loops=True) == 80
    assert sizing.queue_connections(40, 10, isolated_loops=False) == 40


def test_no_pool_fits_is_an_error() -> None:
    with pytest.raises(SizingError) as caught:
        sizing.postgres_budget(max_connections=60, pods=Pods(10, 10), n_jobs_per_worker=10, isolated_loops=True)
    assert "no pool size fits" in caught.value.message


@settings(max_examples=400, deadline=None)
@given(
    max_connections=st.integers(20, 6000),
    api=st.integers(1, 40),
    queue=st.integers(1, 40),
    n_jobs=st.integers(1, 50),
    isolated=st.booleans(),
)
def test_derived_pool_never_exceeds_capacity_and_is_tight(
    max_connections: int, api: int, queue: int, n_jobs: int, isolated: bool
) -> None:
    pods = Pods(api, queue)
    try:
        budget = sizing.postgres_budget(max_connections=max_connections, pods=pods, n_jobs_per_worker=n_jobs,
                                        isolated_loops=isolated)
    except SizingError:
        assume(False)
        return
    assert budget.used <= budget.usable <= max_connections
    assert 1 <= budget.per_replica <= sizing.POOL_MAX_SIZE_CEILING
    if isolated:
        assert budget.per_replica // n_jobs >= sizing.ISOLATED_LOOP_POOL_FLOOR
    if budget.per_replica < sizing.POOL_MAX_SIZE_CEILING:
        one_more = pods.api * (budget.per_replica + 1) + pods.queue * sizing.queue_connections(
            budget.per_replica + 1, n_jobs, isolated)
        assert one_more > budget.usable, "derived pool is not the largest that fits"


def test_redis_budget_sums_every_deployment() -> None:
    users = [RedisUser("a", 10, 2000), RedisUser("b", 10, 900)]
    budget = sizing.redis_budget(max_clients=65000, users=users, cluster=False)
    assert budget.used == 29000
    assert budget.usable == 58500
    with pytest.raises(SizingError) as caught:
        sizing.redis_budget(max_clients=65000, users=[*users, RedisUser("c", 20, 2000)], cluster=False)
    assert "69000 > usable 58500" in caught.value.message


def test_derived_redis_connections_account_for_others() -> None:
    assert sizing.derive_redis_max_connections(max_clients=65000, pods=4) == 2000
    others = [RedisUser("a", 28, 2000)]
    assert sizing.derive_redis_max_connections(max_clients=65000, pods=4, others=others) == (58500 - 56000) // 4
    with pytest.raises(SizingError):
        sizing.derive_redis_max_connections(max_clients=65000, pods=4, others=[RedisUser("a", 29, 2020)])


@settings(max_examples=200, deadline=None)
@given(pods=st.integers(1, 200), max_clients=st.integers(1000, 100000),
       others=st.lists(st.tuples(st.integers(1, 50), st.integers(1, 2000)), max_size=5))
def test_derived_redis_never_exceeds_capacity(pods: int, max_clients: int, others: list[tuple[int, int]]) -> None:
    users = [RedisUser(f"o{i}", p, c) for i, (p, c) in enumerate(others)]
    try:
        derived = sizing.derive_redis_max_connections(max_clients=max_clients, pods=pods, others=users)
    except SizingError:
        assume(False)
        return
    budget = sizing.redis_budget(max_clients=max_clients, users=[*users, RedisUser("me", pods, derived)],
                                 cluster=False)
    assert budget.fits
    assert derived <= sizing.REDIS_MAX_CONNECTIONS_CEILING
