"""CloudWatch alarms on the data stores, their thresholds derived from the same sizing the plan prints.

Pure functions over validated config and budgets (no Pulumi): :mod:`agent_server_infra.monitoring` turns each
:class:`AlarmSpec` into a ``MetricAlarm`` per store (Postgres) or per cache node (Redis).

Metrics, namespaces and dimensions: Amazon RDS User Guide, "Amazon CloudWatch metrics for Amazon RDS"
(``AWS/RDS``, ``DBInstanceIdentifier``); Amazon ElastiCache User Guide, "Host-level metrics" and "Metrics for
Valkey and Redis OSS" (``AWS/ElastiCache``, ``CacheClusterId``: one per node of a replication group, named
``<group>-NNN`` or, in cluster mode, ``<group>-SSSS-NNN``). No ElastiCache metric has a replication-group
dimension, so each node gets its own alarms; their ids are derived from the group's shape, as ElastiCache numbers a
new group's members (a group whose replicas were removed and added again may have gaps, which the next update
does not see: ``member_clusters`` is only known after the group exists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .config import AlarmsConfig, PostgresConfig, RedisConfig
from .sizing import GIB, RDS_INSTANCE_MEMORY_GIB, Budget

Comparison = Literal["GreaterThanThreshold", "LessThanThreshold"]
Statistic = Literal["Maximum", "Average", "Minimum"]
RDS_NAMESPACE = "AWS/RDS"
ELASTICACHE_NAMESPACE = "AWS/ElastiCache"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: which metric, how it is compared, and how its threshold was reached (``formula``)."""

    key: str
    namespace: str
    metric: str
    statistic: Statistic
    comparison: Comparison
    threshold: float
    unit: str
    formula: str
    missing_data: Literal["missing", "notBreaching", "breaching"] = "missing"

    def as_dict(self) -> dict[str, object]:
        return {"metric": f"{self.namespace} {self.metric}", "statistic": self.statistic,
                "comparison": self.comparison, "threshold": self.threshold, "unit": self.unit,
                "formula": self.formula}


def threshold_text(comparison: str, threshold: float, unit: str) -> str:
    """``> 1486 Count``, ``< 10,737,418,240 Bytes``: how an alarm's threshold reads in the plan and its
    description."""
    sign = ">" if comparison == "GreaterThanThreshold" else "<"
    number = f"{threshold:,.0f}" if threshold >= 1_000_000 else f"{threshold:g}"
    return f"{sign} {number} {unit}"


def _planned(budgets: Sequence[Budget]) -> str:
    """The left side of each budget's formula (``api 13 pods × 53 + … = 1486``), summed over the servers."""
    terms = [budget.formula.split(" ≤ ")[0] for budget in budgets]
    if len(terms) == 1:
        return terms[0]
    return f"{' + '.join(f'({term})' for term in terms)} = {sum(budget.used for budget in budgets)}"


def postgres_alarms(alarms: AlarmsConfig, postgres: PostgresConfig, budgets: Sequence[Budget]) -> list[AlarmSpec]:
    """Connections above what the budgets of every server on the database plan, CPU, free storage and freeable
    memory of an RDS instance."""
    specs = [
        AlarmSpec("connections", RDS_NAMESPACE, "DatabaseConnections", "Maximum", "GreaterThanThreshold",
                  sum(budget.used for budget in budgets), "Count", f"planned connections: {_planned(budgets)}"),
        AlarmSpec("cpu", RDS_NAMESPACE, "CPUUtilization", "Average", "GreaterThanThreshold", alarms.cpu_percent,
                  "Percent", f"alarms.cpuPercent {alarms.cpu_percent}"),
        AlarmSpec("free-storage", RDS_NAMESPACE, "FreeStorageSpace", "Minimum", "LessThanThreshold",
                  postgres.allocated_storage_gb * GIB * alarms.free_storage_percent // 100, "Bytes",
                  f"{alarms.free_storage_percent} % of allocatedStorageGb {postgres.allocated_storage_gb} GiB"),
    ]
    memory = RDS_INSTANCE_MEMORY_GIB.get(postgres.instance_class)
    if memory is not None:
        specs.append(AlarmSpec(
            "freeable-memory", RDS_NAMESPACE, "FreeableMemory", "Minimum", "LessThanThreshold",
            int(memory * GIB) * alarms.freeable_memory_percent // 100, "Bytes",
            f"{alarms.freeable_memory_percent} % of {postgres.instance_class}'s {memory:g} GiB"))
    return specs


def redis_alarms(alarms: AlarmsConfig, redis: RedisConfig, budget: Budget) -> list[AlarmSpec]:
    """Per cache node: clients above the summed Redis budget, memory, engine CPU and, with replicas, the lag."""
    specs = [
        AlarmSpec("connections", ELASTICACHE_NAMESPACE, "CurrConnections", "Maximum", "GreaterThanThreshold",
                  budget.used, "Count", f"planned clients per node: {_planned([budget])}"),
        AlarmSpec("memory", ELASTICACHE_NAMESPACE, "DatabaseMemoryUsagePercentage", "Maximum",
                  "GreaterThanThreshold", alarms.redis_memory_percent, "Percent",
                  f"alarms.redisMemoryPercent {alarms.redis_memory_percent} (noeviction: writes fail at 100)"),
        AlarmSpec("engine-cpu", ELASTICACHE_NAMESPACE, "EngineCPUUtilization", "Average", "GreaterThanThreshold",
                  alarms.cpu_percent, "Percent", f"alarms.cpuPercent {alarms.cpu_percent}"),
    ]
    if redis.replicas_per_group > 0:
        # Only replicas publish ReplicationLag, and which node is the primary changes on failover: every node
        # gets the alarm, and a node without data (the primary) does not breach.
        specs.append(AlarmSpec(
            "replication-lag", ELASTICACHE_NAMESPACE, "ReplicationLag", "Maximum", "GreaterThanThreshold",
            alarms.replication_lag_seconds, "Seconds", f"alarms.replicationLagSeconds "
            f"{alarms.replication_lag_seconds}", missing_data="notBreaching"))
    return specs


def cache_cluster_ids(group_id: str, redis: RedisConfig) -> list[str]:
    """The member clusters (one node each) ElastiCache creates for a replication group: ``<group>-001`` … in a
    single node group, ``<group>-0001-001`` … (node group, then node) in cluster mode."""
    nodes = range(1, 2 + redis.replicas_per_group)
    if not redis.is_cluster:
        return [f"{group_id}-{node:03d}" for node in nodes]
    return [f"{group_id}-{shard:04d}-{node:03d}" for shard in range(1, redis.shards + 1) for node in nodes]
