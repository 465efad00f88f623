"""Connection budgets: will every replica's pools fit the database and Redis at full scale?

Pure functions over plain values (no Pulumi). Each returns a :class:`Budget` that carries its inputs, the formula
in words and the usage, so the plan can print it and the stack can export it.

Postgres (RDS): ``max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000)``. ``DBInstanceClassMemory`` is
below the class's nominal memory (≈ 92 % measured on db.m7g.large), so we budget against nominal GiB × 0.92,
minus reserved connections, with 10 % headroom for admin sessions and migrations. Every pod the autoscalers may
run, plus the pods a rolling update surges, holds a full pool; with isolated loops each queue worker thread holds
another ``pool // nJobsPerWorker`` connections.

Redis: ElastiCache allows 65 000 clients per node; all replicas of all deployments sharing one Redis, each with a
pool of ``REDIS_MAX_CONNECTIONS``, must stay within 90 % of that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .env_table import default_int, supported

if TYPE_CHECKING:  # attributes only: `diff` sizes pools from plan documents without loading pydantic
    from .config import PostgresConfig, RedisConfig, ServerConfig

GIB = 1024**3
RDS_BYTES_PER_CONNECTION = 9_531_392
RDS_MAX_CONNECTIONS_CAP = 5000
DB_INSTANCE_CLASS_MEMORY_RATIO = 0.92
RESERVED_CONNECTIONS = 5
"""``superuser_reserved_connections`` (3) plus RDS's ``rds.rds_superuser_reserved_connections`` (2)."""
POSTGRES_HEADROOM = 0.10
POOL_MAX_SIZE_CEILING = 150
ISOLATED_LOOP_POOL_FLOOR = 3
"""With isolated loops each worker's pool is ``pool // nJobsPerWorker``; pools of 1-2 break on one stale
connection."""
SURGE_RATIO = 0.25
KEDA_SCALER_CONNECTIONS = 2
"""Connections KEDA's ``postgresql`` scaler may hold for one ScaledObject: Go's ``database/sql`` pool keeps up to
2 idle connections, and the operator's polling loop and the metrics requests of the HPA can query at once."""

ELASTICACHE_MAXCLIENTS = 65_000
REDIS_USABLE_RATIO = 0.90
REDIS_MAX_CONNECTIONS_CEILING = 2000
REDIS_MIN_DERIVED_CONNECTIONS = 10

_SIZES_GIB = {
    "micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32, "4xlarge": 64,
    "8xlarge": 128, "12xlarge": 192, "16xlarge": 256, "24xlarge": 384, "32xlarge": 512, "48xlarge": 768,
}
_BURSTABLE = ("micro", "small", "medium", "large", "xlarge", "2xlarge")
_GENERAL = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")


def _family(name: str, sizes: Sequence[str], factor: float) -> dict[str, float]:
    return {f"db.{name}.{size}": _SIZES_GIB[size] * factor for size in sizes}


RDS_INSTANCE_MEMORY_GIB: dict[str, float] = {
    **_family("t3", _BURSTABLE, 1), **_family("t4g", _BURSTABLE, 1),
    **_family("m5", _GENERAL, 1), **_family("m6g", (*_GENERAL[:-1], "16xlarge"), 1),
    **_family("m6i", (*_GENERAL, "32xlarge"), 1), **_family("m7g", (*_GENERAL[:-1], "16xlarge"), 1),
    **_family("m7i", (*_GENERAL, "48xlarge"), 1), **_family("m8g", (*_GENERAL, "48xlarge"), 1),
    **_family("r5", _GENERAL, 2), **_family("r6g", (*_GENERAL[:-1], "16xlarge"), 2),
    **_family("r6i", (*_GENERAL, "32xlarge"), 2), **_family("r7g", (*_GENERAL[:-1], "16xlarge"), 2),
    **_family("r7i", (*_GENERAL, "48xlarge"), 2), **_family("r8g", (*_GENERAL, "48xlarge"), 2),
}
"""Nominal memory (GiB) of the RDS instance classes we can budget for. General purpose (m) classes have 4 GiB
per vCPU, memory optimised (r) classes 8 GiB per vCPU, burstable (t) classes the table in ``_SIZES_GIB``."""


class SizingError(ValueError):
    """A budget that cannot be met; ``path`` names the config key a user should change."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def rds_max_connections(instance_class: str) -> int:
    """RDS's default ``max_connections`` for a class, computed from ≈ 92 % of its nominal memory."""
    try:
        gib = RDS_INSTANCE_MEMORY_GIB[instance_class]
    except KeyError:
        known = ", ".join(sorted(RDS_INSTANCE_MEMORY_GIB))
        raise SizingError(
            "postgres.instanceClass",
            f"unknown RDS instance class {instance_class!r}: set postgres.maxConnections explicitly or use one "
            f"of {known}",
        ) from None
    memory = gib * GIB * DB_INSTANCE_CLASS_MEMORY_RATIO
    return min(int(memory // RDS_BYTES_PER_CONNECTION), RDS_MAX_CONNECTIONS_CAP)


def usable_postgres_connections(max_connections: int) -> int:
    """Connections the server may use: reserved slots removed, then 10 % headroom kept free."""
    return max(0, math.floor((max_connections - RESERVED_CONNECTIONS) * (1 - POSTGRES_HEADROOM)))


def surge(max_replicas: int) -> int:
    """Extra pods a rolling update may start (``maxSurge``, with ``maxUnavailable: 0``): 25 %, at least one."""
    return max(1, math.ceil(max_replicas * SURGE_RATIO))


@dataclass(frozen=True)
class Pods:
    """The most pods of each role that can run at once: autoscaler ceiling plus rolling-update surge."""

    api_max: int
    queue_max: int

    @property
    def api(self) -> int:
        return self.api_max + surge(self.api_max)

    @property
    def queue(self) -> int:
        return self.queue_max + surge(self.queue_max)

    @property
    def total(self) -> int:
        return self.api + self.queue


@dataclass(frozen=True)
class Budget:
    """An explainable budget: what may connect, what is allowed, and how the numbers were reached."""

    store: str
    capacity: int
    usable: int
    used: int
    per_replica: int
    formula: str
    inputs: dict[str, int | str | bool] = field(default_factory=dict)

    @property
    def usage_percent(self) -> float:
        return round(100 * self.used / self.usable, 1) if self.usable else math.inf

    @property
    def fits(self) -> bool:
        return self.used <= self.usable

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["usage_percent"] = self.usage_percent
        return data


def queue_connections(pool: int, n_jobs_per_worker: int, isolated_loops: bool) -> int:
    """Connections one queue pod can hold: its shared pool, plus one pool per worker thread when isolated."""
    if not isolated_loops:
        return pool
    return pool + n_jobs_per_worker * (pool // n_jobs_per_worker)


def _postgres_used(pods: Pods, pool: int, n_jobs: int, isolated: bool, scaler: int = 0) -> int:
    return pods.api * pool + pods.queue * queue_connections(pool, n_jobs, isolated) + scaler


def postgres_budget(
    *,
    max_connections: int,
    pods: Pods,
    n_jobs_per_worker: int,
    isolated_loops: bool,
    pool_max_size: int | None = None,
    scaler_connections: int = 0,
) -> Budget:
    """Budget the Postgres connections; derive ``LANGGRAPH_POSTGRES_POOL_MAX_SIZE`` when it is ``None``.
    ``scaler_connections`` are the backlog autoscaler's (KEDA's) own, next to the pods' pools.

    Raises :class:`SizingError` when the configured pool does not fit, when no pool of at least 1 fits, or
    when isolated loops leave a worker fewer than ``ISOLATED_LOOP_POOL_FLOOR`` connections.
    """
    usable = usable_postgres_connections(max_connections)
    floor = ISOLATED_LOOP_POOL_FLOOR * n_jobs_per_worker if isolated_loops else 1
    explicit = pool_max_size is not None
    if pool_max_size is None:
        pool = largest_fitting_pool(pods, usable, n_jobs_per_worker, isolated_loops, POOL_MAX_SIZE_CEILING,
                                     scaler_connections)
        if pool < floor:
            need = _postgres_used(pods, floor, n_jobs_per_worker, isolated_loops, scaler_connections)
            raise SizingError(
                "server.postgresPoolMaxSize",
                f"no pool size fits: {pods.total} pods (api {pods.api}, queue {pods.queue}, surge included) need "
                f"{need} connections at a pool of {floor} but only {usable} of max_connections "
                f"{max_connections} are usable; use a larger instance class or fewer maxReplicas",
            )
    else:
        pool = pool_max_size
        problem = isolated_loop_pool_problem(pool, n_jobs_per_worker) if isolated_loops else None
        if problem is not None:
            raise SizingError("server.postgresPoolMaxSize", problem)
    used = _postgres_used(pods, pool, n_jobs_per_worker, isolated_loops, scaler_connections)
    queue_each = queue_connections(pool, n_jobs_per_worker, isolated_loops)
    scaler = f" + KEDA scaler {scaler_connections}" if scaler_connections else ""
    formula = (
        f"api {pods.api} pods × {pool} + queue {pods.queue} pods × {queue_each}{scaler} = {used} ≤ usable {usable} "
        f"= ⌊({max_connections} − {RESERVED_CONNECTIONS} reserved) × {1 - POSTGRES_HEADROOM:.2f}⌋"
    )
    budget = Budget(
        store="postgres", capacity=max_connections, usable=usable, used=used, per_replica=pool, formula=formula,
        inputs={
            "max_connections": max_connections, "api_max_replicas": pods.api_max, "api_surge": surge(pods.api_max),
            "queue_max_replicas": pods.queue_max, "queue_surge": surge(pods.queue_max),
            "n_jobs_per_worker": n_jobs_per_worker, "isolated_loops": isolated_loops,
            "pool_max_size": pool, "pool_derived": not explicit,
            **({"keda_scaler_connections": scaler_connections} if scaler_connections else {}),
        },
    )
    if not budget.fits:
        largest = largest_fitting_pool(pods, usable, n_jobs_per_worker, isolated_loops, usable, scaler_connections)
        # Below the floor a smaller pool is refused as well: then only more connections or fewer pods help.
        advice = (f"lower postgresPoolMaxSize (≤ {largest} fits) or use a larger instance class" if largest >= floor
                  else f"no postgresPoolMaxSize ≥ {floor} fits; use a larger instance class or fewer maxReplicas")
        raise SizingError(
            "server.postgresPoolMaxSize",
            f"connection budget exceeded: {formula.replace(' ≤ ', ' > ')}; {advice}",
        )
    return budget


def isolated_loop_pool_problem(pool: int, n_jobs_per_worker: int) -> str | None:
    """Why a pool is too small for isolated loops (each worker thread gets ``pool // nJobsPerWorker``
    connections of its own), or ``None`` when every worker gets at least ``ISOLATED_LOOP_POOL_FLOOR``."""
    per_worker = pool // n_jobs_per_worker
    if per_worker >= ISOLATED_LOOP_POOL_FLOOR:
        return None
    return (f"with bgJobIsolatedLoops each worker gets postgresPoolMaxSize // nJobsPerWorker = {pool} // "
            f"{n_jobs_per_worker} = {per_worker} connections; must be ≥ {ISOLATED_LOOP_POOL_FLOOR} (set "
            f"postgresPoolMaxSize ≥ {ISOLATED_LOOP_POOL_FLOOR * n_jobs_per_worker})")


def largest_fitting_pool(pods: Pods, usable: int, n_jobs: int, isolated: bool, ceiling: int,
                          scaler: int = 0) -> int:
    """The largest pool ≤ ``ceiling`` whose connections fit ``usable`` (0 when none does). Usage grows with the
    pool, so a binary search finds it."""
    low, high = 0, ceiling
    while low < high:
        middle = (low + high + 1) // 2
        if _postgres_used(pods, middle, n_jobs, isolated, scaler) <= usable:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class RedisUser:
    """One deployment's claim on a shared Redis."""

    name: str
    pods: int
    max_connections: int


def redis_usable(max_clients: int) -> int:
    return math.floor(max_clients * REDIS_USABLE_RATIO)


def derive_redis_max_connections(*, max_clients: int, pods: int, others: Sequence[RedisUser] = ()) -> int:
    """The largest per-replica Redis pool (≤ 2000) that fits next to the deployments already on this Redis."""
    remaining = redis_usable(max_clients) - sum(user.pods * user.max_connections for user in others)
    derived = min(REDIS_MAX_CONNECTIONS_CEILING, remaining // pods if pods else 0)
    if derived < REDIS_MIN_DERIVED_CONNECTIONS:
        raise SizingError(
            "server.redisMaxConnections",
            f"only {max(remaining, 0)} of {redis_usable(max_clients)} usable Redis connections remain for "
            f"{pods} pods after {len(others)} other deployment(s) on this Redis; set redisMaxConnections "
            f"explicitly on the deployments that share it",
        )
    return derived


REDIS_TERMS_SHOWN = 4
"""Deployments a Redis formula names one by one; beyond that the largest are named and the rest summed, so the
message of a Redis shared by 200 servers stays one line (the budget's inputs keep every deployment)."""


def _redis_terms(users: Sequence[RedisUser]) -> str:
    def term(user: RedisUser) -> str:
        return f"{user.name} {user.pods} pods × {user.max_connections}"

    if len(users) <= REDIS_TERMS_SHOWN:
        return " + ".join(term(user) for user in users)
    largest = sorted(users, key=lambda user: user.pods * user.max_connections, reverse=True)
    shown, rest = largest[:REDIS_TERMS_SHOWN - 1], largest[REDIS_TERMS_SHOWN - 1:]
    rest_used = sum(user.pods * user.max_connections for user in rest)
    return " + ".join(term(user) for user in shown) + f" + {len(rest)} more deployments {rest_used}"


def redis_budget(*, max_clients: int, users: Sequence[RedisUser], cluster: bool) -> Budget:
    """Budget Redis clients per node across every deployment sharing one Redis."""
    usable = redis_usable(max_clients)
    used = sum(user.pods * user.max_connections for user in users)
    terms = _redis_terms(users)
    formula = f"{terms} = {used} ≤ usable {usable} = ⌊{max_clients} maxclients × {REDIS_USABLE_RATIO:.2f}⌋"
    budget = Budget(
        store="redis", capacity=max_clients, usable=usable, used=used,
        per_replica=max((user.max_connections for user in users), default=0), formula=formula,
        inputs={"max_clients_per_node": max_clients, "cluster": cluster, "deployments": len(users),
                **{f"{user.name}.pods": user.pods for user in users},
                **{f"{user.name}.max_connections": user.max_connections for user in users}},
    )
    if not budget.fits:
        raise SizingError(
            "server.redisMaxConnections",
            f"Redis connection budget exceeded: {formula.replace(' ≤ ', ' > ')}; lower redisMaxConnections",
        )
    return budget


def postgres_capacity(postgres: PostgresConfig) -> int:
    """``max_connections`` of the database: explicit, or derived from the RDS instance class."""
    if postgres.max_connections is not None:
        return postgres.max_connections
    return rds_max_connections(postgres.instance_class)


def redis_capacity(redis: RedisConfig) -> int:
    """``maxclients`` per node: ElastiCache's fixed limit, or the external server's."""
    if redis.mode == "external" and redis.max_clients is not None:
        return redis.max_clients
    return ELASTICACHE_MAXCLIENTS


def backlog_scaled(server: ServerConfig) -> bool:
    """Whether KEDA scales this server's queue on its backlog (and so holds Postgres connections of its own)."""
    return server.deployment_model == "standalone" and server.queue.autoscaling == "backlog"


@dataclass(frozen=True)
class ConnectionPlan:
    """Both budgets of one deployment and the pool sizes they settle on."""

    name: str
    pods: Pods
    postgres: Budget
    redis: Budget
    redis_max_connections: int

    @property
    def pool_max_size(self) -> int:
        return self.postgres.per_replica

    def redis_user(self) -> RedisUser:
        return RedisUser(self.name, self.pods.total, self.redis_max_connections)


def plan_connections(
    server: ServerConfig,
    *,
    postgres: PostgresConfig,
    redis: RedisConfig,
    name: str = "server",
    redis_others: Sequence[RedisUser] = (),
) -> ConnectionPlan:
    """Size one deployment's pools against its Postgres and the Redis it may share with ``redis_others``.

    A server older than 0.2.12 ignores ``LANGGRAPH_POSTGRES_POOL_MAX_SIZE`` and always pools 150, so the budget
    uses 150 for it.
    """
    pods = Pods(api_max=server.api.ceiling, queue_max=server.queue.ceiling)
    pool = server.postgres_pool_max_size
    if not supported("LANGGRAPH_POSTGRES_POOL_MAX_SIZE", server.version):
        pool = default_int("LANGGRAPH_POSTGRES_POOL_MAX_SIZE")
    postgres_plan = postgres_budget(
        max_connections=postgres_capacity(postgres), pods=pods, n_jobs_per_worker=server.n_jobs_per_worker,
        isolated_loops=server.bg_job_isolated_loops, pool_max_size=pool,
        scaler_connections=KEDA_SCALER_CONNECTIONS if backlog_scaled(server) else 0,
    )
    max_clients = redis_capacity(redis)
    redis_connections = server.redis_max_connections
    if redis_connections is None:
        redis_connections = derive_redis_max_connections(max_clients=max_clients, pods=pods.total,
                                                         others=redis_others)
    users = [*redis_others, RedisUser(name, pods.total, redis_connections)]
    redis_plan = redis_budget(max_clients=max_clients, users=users, cluster=redis.is_cluster)
    return ConnectionPlan(name=name, pods=pods, postgres=postgres_plan, redis=redis_plan,
                          redis_max_connections=redis_connections)


BACKLOG_SCALE_DOWN_INTERRUPTIONS = 1
"""A backlog-scaled queue can lose a pod to its autoscaler right after a rollout: KEDA counts the pending runs, every
run a wave requeues is pending until it is claimed again, and once the backlog drains the HPA scales down (after the
cooldown), the youngest pods first (kubernetes ``pkg/controller/controller_utils.go`` ``ActivePodsWithRanks``):
the pods that just claimed the requeued runs. One more interruption for such a run."""


def rollout_waves(max_replicas: int) -> int:
    """How many batches a rolling update replaces ``max_replicas`` pods in, with ``maxSurge = surge(max_replicas)``
    and ``maxUnavailable: 0``: each batch SIGTERMs up to ``maxSurge`` old pods once their replacements are ready."""
    return math.ceil(max_replicas / surge(max_replicas))


def retry_budget(server: ServerConfig) -> Budget | None:
    """The attempts a background run needs to outlast one rollout of the queue, against ``BG_JOB_MAX_RETRIES``.

    The server counts attempts, not retries: a claim increments the run's counter and attempt ``n`` fails with "Run
    exceeded max attempts" when ``n > BG_JOB_MAX_RETRIES`` (langgraph-api 0.11.1 ``worker.py``; the runtime's
    sweep likewise errors a run whose counter reached it, ``langgraph_runtime_pg/ops.py`` ``_sweep_single_run``).
    SIGTERM requeues a running run (``CancelledError`` is retriable, ``worker.py``), so in the worst case a run is
    interrupted once per rollout wave (its pod is the one stopped, and an old pod of a later wave claims it again),
    plus once by a backlog-scaled queue's scale-down, and finishes on the attempt after that. Unset, the variable is
    derived: the seed's 3 unless the rollout needs more. An explicit value below the need raises
    :class:`SizingError`. ``None`` for a control-plane deployment: its rollouts are not this library's.
    """
    if server.deployment_model != "standalone":
        return None
    seed = default_int("BG_JOB_MAX_RETRIES")
    ceiling = server.queue.ceiling
    waves = rollout_waves(ceiling)
    scale_down = BACKLOG_SCALE_DOWN_INTERRUPTIONS if backlog_scaled(server) else 0
    needed = waves + scale_down + 1
    explicit = server.bg_job_max_retries
    attempts = explicit if explicit is not None else max(seed, needed)
    cause = f"⌈{ceiling} queue pods / surge {surge(ceiling)}⌉ = {waves} rollout waves"
    if scale_down:
        cause += f" + {scale_down} backlog scale-down"
    formula = (f"a run interrupted by {cause} needs {needed} attempts ≤ BG_JOB_MAX_RETRIES {attempts} "
               f"({'set' if explicit is not None else f'derived: max(seed {seed}, {needed})'})")
    budget = Budget(
        store="retries", capacity=attempts, usable=attempts, used=needed, per_replica=attempts, formula=formula,
        inputs={"queue_max_replicas": ceiling, "queue_surge": surge(ceiling), "rollout_waves": waves,
                "backlog_scale_down": scale_down, "attempts_needed": needed, "bg_job_max_retries": attempts,
                "derived": explicit is None},
    )
    if not budget.fits:
        raise SizingError(
            "server.bgJobMaxRetries",
            f"cannot survive one queue rollout: {formula.replace(' ≤ ', ' > ')}; the server counts attempts (attempt "
            f"n fails with 'exceeded max attempts' when n > BG_JOB_MAX_RETRIES): set it ≥ {needed} or leave it "
            "unset to derive it",
        )
    return budget


def bg_job_max_retries(server: ServerConfig) -> int:
    """``BG_JOB_MAX_RETRIES`` as rendered: explicit, derived from the queue's rollout (:func:`retry_budget`), or
    the seed's for a control-plane deployment."""
    budget = retry_budget(server)
    if budget is not None:
        return budget.per_replica
    explicit = server.bg_job_max_retries
    return explicit if explicit is not None else default_int("BG_JOB_MAX_RETRIES")
