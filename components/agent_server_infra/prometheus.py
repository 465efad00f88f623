"""Prometheus scraping of both roles: a Prometheus Operator ``PodMonitor`` (``monitoring.coreos.com/v1``).

A PodMonitor rather than a ServiceMonitor: the queue has no Service (nothing calls it; it is probed and scraped
on its pods), and one PodMonitor selects the pods of both roles by the labels they share. It scrapes
``<mountPrefix>/metrics`` on the pods' ``http`` port (``PORT``), where every langgraph-api release from 0.11.1 on
serves the Prometheus text format in both roles: the API's route (``langgraph_api/api/__init__.py``,
``api/meta.py`` ``meta_metrics``) and the queue's health and metrics server (``langgraph_api/queue_entrypoint.py``
``health_and_metrics_server``, mounted under ``MOUNT_PREFIX`` too). The queue's gauges are its own workers and
pools; the queue depth (``num_pending_runs``, ``num_running_runs``) comes from the API process only
(``langgraph_api/metrics_collector.py``: ``not config.IS_QUEUE_ENTRYPOINT``), so a dashboard reads it from the
``api`` pods. Each target carries its role as the ``component`` label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .config import MetricsConfig

API_VERSION = "monitoring.coreos.com/v1"
KIND = "PodMonitor"
ROLE_LABEL = "app.kubernetes.io/component"


def metrics_path(mount_prefix: str | None) -> str:
    """Where both roles serve the Prometheus text format."""
    return f"{mount_prefix or ''}/metrics"


def pod_monitor_spec(selector: Mapping[str, str], roles: Sequence[str], port_name: str, mount_prefix: str | None,
                     metrics: MetricsConfig) -> dict[str, Any]:
    """The PodMonitor's spec (plain data, so tests read it as the operator would): the server's pods of
    ``roles`` (not its bootstrap Job's)."""
    return {
        "selector": {"matchLabels": dict(selector),
                     "matchExpressions": [{"key": ROLE_LABEL, "operator": "In", "values": list(roles)}]},
        "podTargetLabels": [ROLE_LABEL],
        "podMetricsEndpoints": [{
            "port": port_name,
            "path": metrics_path(mount_prefix),
            "scheme": "http",
            "interval": f"{metrics.interval_seconds}s",
        }],
    }


def pod_monitor(name: str, *, namespace: str, labels: Mapping[str, str], selector: Mapping[str, str],
                roles: Sequence[str], port_name: str, mount_prefix: str | None, metrics: MetricsConfig,
                opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The PodMonitor ``name`` of the pods ``selector`` matches in ``roles``."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=API_VERSION,
        kind=KIND,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels)),
        spec=pod_monitor_spec(selector, roles, port_name, mount_prefix, metrics),
        opts=opts,
    )
