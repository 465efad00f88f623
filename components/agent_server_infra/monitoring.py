"""The data stores' CloudWatch alarms as resources: one ``MetricAlarm`` per :class:`~.alarms.AlarmSpec` and
monitored object (the RDS instance; each node of a replication group)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .alarms import AlarmSpec, threshold_text
from .config import AlarmsConfig
from .errors import required
from .provider_rules import ALARM_DESCRIPTION_MAX


def description(spec: AlarmSpec, target: str) -> str:
    """What the alarm watches and where its threshold comes from, within AWS's 1024 characters."""
    text = (f"Agent Server {target}: {spec.metric} {spec.statistic} "
            f"{threshold_text(spec.comparison, spec.threshold, spec.unit)} ({spec.formula})")
    return text if len(text) <= ALARM_DESCRIPTION_MAX else text[:ALARM_DESCRIPTION_MAX - 3] + "..."


def metric_alarms(
    name: str,
    targets: Mapping[str, Mapping[str, pulumi.Input[str]]],
    compute: Callable[[], Sequence[AlarmSpec]],
    config: AlarmsConfig,
    *,
    parent: pulumi.Resource,
    tags: Mapping[str, Any],
) -> pulumi.Output[Sequence[AlarmSpec]]:
    """An alarm per spec and target (``{suffix: dimensions}``, suffix ``""`` for a single target); returns the
    specs as they settled.

    ``compute`` gives the specs. Which alarms exist and what they watch are known now, at preview; thresholds and
    descriptions come from ``compute`` run once more after the program's synchronous construction (apply
    callbacks run only then), when every server on a shared store has registered its budget. The alarm carries no
    ``Unit``, so it matches the metric whatever unit it is published in.
    """
    topic: pulumi.Input[str] = required(  # validation requires it (rules.check_alarms)
        config.sns_topic_arn, "alarms.snsTopicArn", "required when alarms are enabled", name)
    settled = pulumi.Output.from_input(None).apply(lambda _: {spec.key: spec for spec in compute()})

    for spec in compute():
        for suffix, dimensions in targets.items():
            target = f"{name}{'-' + suffix if suffix else ''}"
            aws.cloudwatch.MetricAlarm(
                f"{target}-{spec.key}",
                namespace=spec.namespace,
                metric_name=spec.metric,
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=settled.apply(lambda specs, key=spec.key: float(specs[key].threshold)),
                treat_missing_data=spec.missing_data,
                alarm_description=settled.apply(
                    lambda specs, key=spec.key, target=target: description(specs[key], target)),
                dimensions=dict(dimensions),
                period=config.period_seconds,
                evaluation_periods=config.evaluation_periods,
                alarm_actions=[topic],
                ok_actions=[topic],
                tags=dict(tags),
                opts=pulumi.ResourceOptions(parent=parent),
            )
    return settled.apply(lambda specs: list(specs.values()))
