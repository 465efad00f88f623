"""Rules the real AWS APIs enforce on the values we send, each with its source.

Names have their own module (:mod:`agent_server_infra.naming`); this one holds the rest: free-text fields,
maintenance and backup windows, storage autoscaling, and the engine versions and parameter group families RDS and
ElastiCache accept. Config validation (:mod:`agent_server_infra.rules`) and the components both read them, and the
conformance tier (``tests/conformance``) applies them to every recorded resource. Pure: no Pulumi import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .api_errors import checked
from .versions import parse_version


@dataclass(frozen=True)
class TextRule:
    """What a real API accepts in one free-text field."""

    what: str
    max_length: int
    charset: str
    """Regular-expression character class of the accepted characters."""
    source: str
    min_length: int = 0

    def problems(self, value: str) -> list[str]:
        found: list[str] = []
        if not self.min_length <= len(value) <= self.max_length:
            found.append(f"must be {self.min_length}-{self.max_length} characters (got {len(value)})")
        bad = sorted({char for char in value if not re.fullmatch(self.charset, char)})
        if bad:
            found.append(f"has characters the API refuses: {''.join(bad)!r}")
        return found


check_text = checked
"""``value`` when a free-text ``rule`` accepts it; :class:`~agent_server_infra.api_errors.ApiRuleError` (value,
rule, source) otherwise."""


_EC2_TEXT = r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]"

SECURITY_GROUP_DESCRIPTION = TextRule(
    "EC2 security group description", 255, _EC2_TEXT,
    "AWS EC2 API reference, CreateSecurityGroup GroupDescription (VPC: up to 255 of a-zA-Z0-9, spaces and "
    "._-:/()#,@[]+=&;{}!$*); terraform-provider-aws internal/service/ec2/vpc_security_group.go (description: "
    "validation.StringLenBetween(0, 255))",
)
SECURITY_GROUP_RULE_DESCRIPTION = TextRule(
    "EC2 security group rule description", 255, r"[a-zA-Z0-9. _\-:/()#,@\[\]+=;{}!$*]",
    "AWS EC2 API reference, IpRange Description (up to 255 of a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*) and "
    "UserIdGroupPair Description (the same without &); terraform-provider-aws internal/service/ec2/validate.go "
    "validSecurityGroupRuleDescription",
)
ELASTICACHE_AUTH_TOKEN_SPECIALS = "!&#$^<>-"
ELASTICACHE_AUTH_TOKEN = TextRule(
    "ElastiCache AUTH token", 128, f"[A-Za-z0-9{re.escape(ELASTICACHE_AUTH_TOKEN_SPECIALS)}]",
    "AWS ElastiCache API reference, CreateReplicationGroup AuthToken (16-128 printable characters; 'the only "
    "permitted printable special characters are !, &, #, $, ^, <, >, and -'); terraform-provider-aws "
    "internal/service/elasticache/validate.go validReplicationGroupAuthToken (16-128, no @ \" /)",
    min_length=16,
)
RDS_MASTER_PASSWORD = TextRule(
    "RDS master password", 128, r"[!#-.0-?A-~]",
    "AWS RDS API reference, CreateDBInstance MasterUserPassword (PostgreSQL: 8-128 printable ASCII characters "
    "other than '/', '\"', '@' or a space)",
    min_length=8,
)


# --- windows ------------------------------------------------------------------------------------------------

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = 7 * 24 * 60


def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def daily_window(text: str) -> tuple[int, int]:
    """``hh24:mi-hh24:mi`` (UTC) as (start, end) minutes of the day; an end before the start wraps midnight."""
    start, end = text.split("-")
    return _minute(start), _minute(end)


def weekly_window(text: str) -> tuple[int, int]:
    """``ddd:hh24:mi-ddd:hh24:mi`` (UTC) as (start, end) minutes of the week; an end before the start wraps."""
    start, end = text.split("-")
    day_a, time_a = start.split(":", 1)
    day_b, time_b = end.split(":", 1)
    return _DAYS.index(day_a) * 1440 + _minute(time_a), _DAYS.index(day_b) * 1440 + _minute(time_b)


def daily_minutes(text: str) -> int:
    start, end = daily_window(text)
    return (end - start) % 1440


def weekly_minutes(text: str) -> int:
    start, end = weekly_window(text)
    return (end - start) % _WEEK


def _intervals(start: int, length: int, period: int) -> list[tuple[int, int]]:
    """``[start, start + length)`` on a circle of ``period`` minutes, as one or two plain intervals."""
    start %= period
    end = start + length
    return [(start, end)] if end <= period else [(start, period), (0, end - period)]


def windows_overlap(daily: str, weekly: str) -> bool:
    """Whether a daily window (backups, snapshots) and a weekly one (maintenance) share a minute in any week."""
    day_start, _ = daily_window(daily)
    week_start, _ = weekly_window(weekly)
    week = _intervals(week_start, weekly_minutes(weekly), _WEEK)
    length = daily_minutes(daily)
    days = [part for day in range(7) for part in _intervals(day * 1440 + day_start, length, _WEEK)]
    return any(a < d and c < b for a, b in week for c, d in days)


@dataclass(frozen=True)
class WindowRules:
    """Minimum lengths of a store's daily (backup or snapshot) and weekly (maintenance) windows, which must not
    overlap."""

    daily_field: str
    daily_minimum: int
    weekly_minimum: int
    source: str


RDS_WINDOWS = WindowRules(
    "backupWindow", 30, 30,
    "AWS RDS API reference, CreateDBInstance PreferredBackupWindow (hh24:mi-hh24:mi, UTC, at least 30 minutes, "
    "must not conflict with the preferred maintenance window) and PreferredMaintenanceWindow "
    "(ddd:hh24:mi-ddd:hh24:mi, minimum 30-minute window)",
)
ELASTICACHE_WINDOWS = WindowRules(
    "snapshotWindow", 60, 60,
    "AWS ElastiCache API reference, CreateReplicationGroup PreferredMaintenanceWindow (the minimum maintenance "
    "window is a 60 minute period) and SnapshotWindow (daily range, at least 60 minutes; ElastiCache refuses a "
    "snapshot window that overlaps the maintenance window)",
)


# --- logs -----------------------------------------------------------------------------------------------------

LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                                       2192, 2557, 2922, 3288, 3653)
LOG_RETENTION_SOURCE = (
    "AWS CloudWatch Logs API reference, PutRetentionPolicy retentionInDays (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, "
    "180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653); terraform-provider-aws "
    "internal/service/logs/group.go retention_in_days validation"
)


# --- alarms -----------------------------------------------------------------------------------------------------

ALARM_MAX_EVALUATION_SECONDS = 86_400
ALARM_SOURCE = (
    "Amazon CloudWatch API reference, PutMetricAlarm: Period 10, 20, 30 or a multiple of 60; EvaluationPeriods × "
    "Period must not exceed one day (86,400 s); AlarmDescription 0-1024 characters; AlarmName 1-255; "
    "terraform-provider-aws internal/service/cloudwatch/metric_alarm.go (alarm_description StringLenBetween(0, "
    "1024), alarm_name StringLenBetween(1, 255))"
)
ALARM_DESCRIPTION_MAX = 1024


# --- storage ------------------------------------------------------------------------------------------------

STORAGE_CEILING_RATIO = 1.10
STORAGE_CEILING_SOURCE = (
    "Amazon RDS User Guide, 'Managing capacity automatically with Amazon RDS storage autoscaling': the maximum "
    "storage threshold must be at least 10% more than the allocated storage (CreateDBInstance "
    "MaxAllocatedStorage; the API answers InvalidParameterCombination otherwise)"
)


GP3_PROVISIONED_MINIMUM_GB = 400
"""RDS for PostgreSQL gp3 below 400 GiB has a fixed baseline (3,000 IOPS, 125 MiB/s); from 400 GiB IOPS and
throughput may be provisioned above the 12,000 IOPS / 500 MiB/s baseline."""
GP3_IOPS = (12_000, 64_000)
GP3_THROUGHPUT = (500, 4_000)
GP3_MAX_THROUGHPUT_PER_IOPS = 0.25
GP3_MAX_IOPS_PER_GIB = 500
IO1_MAX_IOPS_PER_GIB = 50
PROVISIONED_IOPS = (1_000, 256_000)
STORAGE_SOURCE = (
    "Amazon RDS User Guide, 'Amazon RDS DB instance storage' (CHAP_Storage): gp3 for PostgreSQL below 400 GiB: "
    "3,000 IOPS / 125 MiB/s, not configurable; from 400 GiB: 12,000-64,000 IOPS and 500-4,000 MiB/s, "
    "throughput/IOPS at most 0.25, IOPS/GiB at most 500 (also against the autoscaling ceiling); io1: 1,000-19,950 "
    "IOPS between 100 and 399 GiB, 1,000-256,000 from 400 GiB; AWS answers 'You can't specify IOPS or storage "
    "throughput for engine postgres and a storage size less than 400'. terraform-provider-aws "
    "internal/service/rds/instance.go "
    "isStorageTypeGP3BelowAllocatedStorageThreshold (postgres: allocated < 400)"
)


def minimum_storage_ceiling(allocated_gb: int) -> int:
    """The smallest ``maxAllocatedStorage`` RDS accepts above ``allocated_gb``: at least 10 % more."""
    return -(-allocated_gb * 11 // 10)  # ceil(allocated × 1.1) in integers


# --- engine versions ------------------------------------------------------------------------------------------

POSTGRES_MAJORS: tuple[int, ...] = (15, 16, 17)
POSTGRES_VERSION_SOURCE = (
    "Amazon RDS for PostgreSQL release calendar (supported majors 15, 16 and 17 with their minors); "
    "CreateDBInstance EngineVersion: with AutoMinorVersionUpgrade a major version alone ('16') creates the "
    "default minor of that major, and terraform-provider-aws aws_db_instance documents engine_version as a prefix "
    "('If auto_minor_version_upgrade is enabled, you can provide a prefix of the version such as 8.0') with the "
    "created version in engine_version_actual"
)


POSTGRES_CREATABLE_MINORS: dict[int, tuple[int, int, int]] = {15: (15, 13, 0), 16: (16, 9, 0), 17: (17, 5, 0)}
"""The oldest minor of each major that RDS still creates instances of."""
POSTGRES_CREATABLE_SOURCE = (
    "AWS Health notice for RDS for PostgreSQL (May 2026): minors 15.9-15.12, 16.5-16.8 and 17.1-17.4 reach the "
    "end of standard support on 2026-05-31, and from 2026-05-01 new instances cannot be created on them (they are "
    "upgraded to 15.15, 16.11 and 17.7 or later); Amazon RDS for PostgreSQL release calendar"
)


POSTGRES_AUTO_UPGRADE_MINORS: dict[int, str] = {15: "15.15", 16: "16.11", 17: "17.7"}
"""The minor every instance of a major runs at least once RDS has upgraded it (instances on the minors whose
standard support ended on 2026-05-31 were moved to these or later): a minor pinned below it is a downgrade."""
POSTGRES_AUTO_UPGRADE_SOURCE = (
    "AWS Health notice for RDS for PostgreSQL (May 2026): instances on 15.9-15.12, 16.5-16.8 and 17.1-17.4 are "
    "upgraded to 15.15, 16.11 and 17.7 or later; with AutoMinorVersionUpgrade RDS moves an instance to the preferred "
    "minor in its maintenance window"
)


def postgres_creatable(engine_version: str) -> bool:
    """Whether RDS creates an instance of ``engine_version`` (a major alone resolves to RDS's default minor)."""
    version = parse_version(engine_version)
    return "." not in engine_version or version >= POSTGRES_CREATABLE_MINORS.get(version[0], version)


def postgres_parameter_group_family(engine_version: str) -> str:
    """``postgres16`` for ``16`` or ``16.8``: RDS parameter group families follow the major version."""
    return f"postgres{parse_version(engine_version)[0]}"


ELASTICACHE_VERSIONS: dict[str, tuple[str, ...]] = {
    "redis": ("6.0", "6.2", "7.0", "7.1"),
    "valkey": ("7.2", "8.0", "8.1", "8.2", "9.0"),
}
"""Engine versions ElastiCache creates replication groups with, as ``major.minor`` (the only form it takes for
Redis 6 and later and for Valkey)."""
ELASTICACHE_DEFAULT_VERSION: dict[str, str] = {"redis": "7.1", "valkey": "8.0"}
ELASTICACHE_VERSION_SOURCE = (
    "Amazon ElastiCache User Guide, 'Supported engines and versions' (Redis OSS 6.0, 6.2, 7.0, 7.1; Valkey 7.2, "
    "8.0, 8.1, 8.2, 9.0); CreateReplicationGroup EngineVersion; terraform-provider-aws "
    "internal/service/elasticache/engine_version.go (Redis >= 6 takes major.minor only, no patch)"
)
TRANSIT_ENCRYPTION_MODE_MINIMUM: dict[str, tuple[int, int, int]] = {"redis": (7, 0, 5), "valkey": (7, 2, 0)}
TRANSIT_ENCRYPTION_MODE_SOURCE = (
    "AWS ElastiCache API reference, CreateReplicationGroup TransitEncryptionMode ('only available for Redis OSS "
    "7.0.5 and above' / Valkey 7.2 and above); pulumi_aws elasticache ReplicationGroup transit_encryption_mode"
)


def elasticache_parameter_group_family(engine: str, engine_version: str) -> str:
    """The family of ``engine`` at ``engine_version``: ``redis6.x`` for every Redis 6, ``redis7`` for Redis 7,
    ``valkey7``/``valkey8``/``valkey9`` for Valkey (CreateCacheParameterGroup CacheParameterGroupFamily; ElastiCache
    User Guide, 'Valkey 9.0 parameter changes')."""
    major = parse_version(engine_version)[0]
    if engine == "redis" and major == 6:
        return "redis6.x"
    return f"{engine}{major}"


def _engine_at_least(table: Mapping[str, tuple[int, int, int]], engine: str, engine_version: str) -> bool:
    """Whether ``engine_version`` (``major.minor``) reaches ``engine``'s minimum in ``table`` on ``major.minor``
    (ElastiCache creates the newest patch of a ``major.minor``, so a minimum's patch does not count)."""
    return parse_version(engine_version)[:2] >= table[engine][:2]


def supports_transit_encryption_mode(engine: str, engine_version: str) -> bool:
    """Whether ``TransitEncryptionMode`` may be sent for ``engine`` at ``engine_version`` (``major.minor``).

    ElastiCache creates the newest patch of a ``major.minor`` (Redis 7.0 is 7.0.7), so Redis 7.0 qualifies and
    every Redis 6 does not."""
    return _engine_at_least(TRANSIT_ENCRYPTION_MODE_MINIMUM, engine, engine_version)


# --- ElastiCache IAM authentication ---------------------------------------------------------------------------

ELASTICACHE_IAM_MINIMUM: dict[str, tuple[int, int, int]] = {"redis": (7, 0, 0), "valkey": (7, 2, 0)}
ELASTICACHE_IAM_SOURCE = (
    "Amazon ElastiCache User Guide, 'Authenticating with IAM', Limitations: IAM authentication is available for "
    "Valkey 7.2 and above or Redis OSS 7.0 and above; the user id and user name of an IAM-enabled user must be "
    "the same; it needs in-transit encryption; the identity needs elasticache:Connect on the cache (replication "
    "group) and on the user"
)
ELASTICACHE_USER_GROUP_SOURCE = (
    "AWS CloudFormation AWS::ElastiCache::UserGroup UserIds ('A user named default must be included'); Amazon "
    "ElastiCache User Guide, 'Role-Based Access Control (RBAC)' (a user group of engine valkey only holds users "
    "that authenticate with a password or IAM; Redis OSS caches use user groups of engine redis; an access string "
    "without 'on' leaves the user off)"
)
ELASTICACHE_RBAC_AUTH_SOURCE = (
    "terraform-provider-aws internal/service/elasticache/replication_group.go (auth_token ConflictsWith "
    "user_group_ids; authTokenUpdateStrategyValidate: a strategy other than DELETE needs auth_token; on update, "
    "user_group_ids added with auth_token_update_strategy DELETE transitions the group to RBAC); AWS ElastiCache "
    "API reference, ModifyReplicationGroup AuthTokenUpdateStrategy ('DELETE - allowed only when transitioning to "
    "RBAC')"
)
DEFAULT_USER_NAME = "default"
DISABLED_ACCESS_STRING = "off -@all"
"""The user group's mandatory ``default`` user: switched off with no command, so a client that authenticates
without a user name (``AUTH <password>``, or none at all) gets nothing."""
IAM_ACCESS_STRING = "on ~* &* +@all"
"""Every key, every pub/sub channel and every command ElastiCache allows. Not narrowed to ``redisKeyPrefix``:
the runtime that opens the Redis connections is not in the langgraph-api wheels, and the MIT runtime
(langgraph-runtime-pg 0.11.1.post1) writes unprefixed keys (``lg:run-heartbeat:<run>``) and channels
(``run:<run>:stream``), so a narrower string could not be verified against what the server sends."""


def elasticache_iam_supported(engine: str, engine_version: str) -> bool:
    """Whether ElastiCache IAM authentication is available for ``engine`` at ``engine_version``."""
    return _engine_at_least(ELASTICACHE_IAM_MINIMUM, engine, engine_version)


def elasticache_connect_resources(replication_group_arn: str, user_id: str) -> tuple[str, str]:
    """The ``elasticache:Connect`` resources of ``user_id`` on a replication group (its partition, region and
    account read from the group's ARN ``arn:<partition>:elasticache:<region>:<account>:replicationgroup:<id>``):
    the group itself and ``arn:<partition>:elasticache:<region>:<account>:user:<user id>``."""
    _, partition, _, region, account, *_ = replication_group_arn.split(":")
    return replication_group_arn, f"arn:{partition}:elasticache:{region}:{account}:user:{user_id}"
