"""The data stores' CloudWatch alarms as resources: one ``MetricAlarm`` per :class:`~.alarms.AlarmSpec` and
monitored object (the RDS instance; each node of a replication group)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from .alarms import AlarmSpec, threshold_text
from .config import AlarmsConfig
from .provider_rules import ALARM_DESCRIPTION_MAX


def description(spec: AlarmSpec, target: str) -> str:
    """What the alarm watches and where its threshold comes from, within AWS's 1024 characters."""
    text = (f"Agent Server {target}: {spec.metric} {spec.statistic} "
            f"{threshold_text(spec.comparison, spec.threshold, spec.unit)} ({spec.formula})")
    return text if len(text) <= ALARM_DESCRIPTION_MAX else text[:ALARM_DESCRIPTION_MAX - 3] + "..."


def metric_alarms(
    name: str,
    targets: Mapping[str, Mapping[str, pulumi.Input[str]]],
    specs: Sequence[AlarmSpec],
    config: AlarmsConfig,
    *,
    parent: pulumi.Resource,
    tags: Mapping[str, Any],
    settle: Callable[[], Sequence[AlarmSpec]] | None = None,
) -> list[aws.cloudwatch.MetricAlarm]:
    """An alarm per spec and target (``{suffix: dimensions}``, suffix ``""`` for a single target).

    ``settle`` recomputes the specs once the program has registered everything (a shared Redis's summed budget
    is complete only then): the alarms exist at preview, their thresholds follow. The alarm carries no ``Unit``,
    so it matches the metric whatever unit it is published in.
    """

    def settled(spec: AlarmSpec, read: Callable[[AlarmSpec], Any]) -> Any:
        if settle is None:
            return read(spec)
        recompute = settle
        # Apply callbacks run after the program's synchronous construction, when every claim is registered.
        return pulumi.Output.from_input(spec.key).apply(
            lambda key: read(next(item for item in recompute() if item.key == key)))

    assert config.sns_topic_arn is not None, "validation requires snsTopicArn when alarms are enabled"
    topic: pulumi.Input[str] = config.sns_topic_arn

    created: list[aws.cloudwatch.MetricAlarm] = []
    for spec in specs:
        for suffix, dimensions in targets.items():
            target = f"{name}{'-' + suffix if suffix else ''}"
            created.append(aws.cloudwatch.MetricAlarm(
                f"{target}-{spec.key}",
                namespace=spec.namespace,
                metric_name=spec.metric,
                statistic=spec.statistic,
                comparison_operator=spec.comparison,
                threshold=settled(spec, lambda item: float(item.threshold)),
                treat_missing_data=spec.missing_data,
                alarm_description=settled(spec, lambda item, target=target: description(item, target)),
                dimensions=dict(dimensions),
                period=config.period_seconds,
                evaluation_periods=config.evaluation_periods,
                alarm_actions=[topic],
                ok_actions=[topic],
                tags=dict(tags),
                opts=pulumi.ResourceOptions(parent=parent),
            ))
    return created
