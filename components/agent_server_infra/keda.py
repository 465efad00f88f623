"""The queue's backlog autoscaler: a KEDA ``ScaledObject`` with a ``postgresql`` trigger on the pending runs.

KEDA creates and owns the queue's HorizontalPodAutoscaler, so the Workload creates no HPA of its own for a
backlog-scaled queue: KEDA's admission webhook refuses a ScaledObject whose target an HPA it does not own already
scales (``verifyHpas`` in kedacore/keda ``apis/keda/v1alpha1/scaledobject_webhook.go``). KEDA's HPA takes the name
the CPU autoscaler of the queue has (``<name>-queue``) and the ScaledObject asks to adopt it
(``scaledobject.keda.sh/transfer-hpa-ownership``): switching a deployed queue from ``cpu`` to ``backlog`` is then
one update, where Pulumi creates the ScaledObject before it deletes the old HPA (KEDA recreates its HPA once that
delete lands). The trigger reads its connection from the server's Secret through a ``TriggerAuthentication``: no
credential is ever a plain value of the ScaledObject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .config import QueueScaleConfig

KEDA_API_VERSION = "keda.sh/v1alpha1"
POSTGRESQL_TRIGGER = "postgresql"
CONNECTION_PARAMETER = "connection"
"""The ``postgresql`` scaler's authentication parameter that takes a whole connection string (URI)."""


@dataclass(frozen=True)
class BacklogTrigger:
    """What the trigger compares: the pending runs against ``target`` runs per queue replica."""

    query: str
    target: int
    activation: int

    def metadata(self) -> dict[str, str]:
        # KEDA's trigger metadata is a map of strings (its CRD types every value as string).
        return {
            "query": self.query,
            "targetQueryValue": str(self.target),
            "activationTargetQueryValue": str(self.activation),
        }


def backlog_trigger(queue: QueueScaleConfig, n_jobs_per_worker: int) -> BacklogTrigger:
    """One queue replica per ``nJobsPerWorker`` pending runs; the scaler is active from that many on."""
    return BacklogTrigger(query=queue.backlog.query, target=n_jobs_per_worker, activation=n_jobs_per_worker)


TRANSFER_HPA_OWNERSHIP = "scaledobject.keda.sh/transfer-hpa-ownership"
"""KEDA adopts the HPA named in ``advanced.horizontalPodAutoscalerConfig.name`` instead of refusing the
ScaledObject because of it (kedacore/keda ``ScaledObjectTransferHpaOwnershipAnnotation``)."""


def scaled_object_spec(target: str, queue: QueueScaleConfig, trigger: BacklogTrigger,
                       authentication: pulumi.Input[str]) -> dict[str, Any]:
    """The ScaledObject's spec for the queue Deployment ``target`` (plain data, so tests read it as KEDA would)."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "pollingInterval": queue.backlog.polling_interval_seconds,
        "minReplicaCount": queue.replicas,
        "maxReplicaCount": queue.ceiling,
        "advanced": {"horizontalPodAutoscalerConfig": {
            "name": target,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": queue.backlog.cooldown_seconds}},
        }},
        "triggers": [{
            "type": POSTGRESQL_TRIGGER,
            "metadata": trigger.metadata(),
            "authenticationRef": {"name": authentication, "kind": "TriggerAuthentication"},
        }],
    }


def backlog_autoscaler(
    target: str,
    queue: QueueScaleConfig,
    n_jobs_per_worker: int,
    *,
    namespace: str,
    labels: Mapping[str, str],
    secret_name: pulumi.Input[str],
    connection_key: str,
    opts: pulumi.ResourceOptions,
) -> Mapping[str, k8s.apiextensions.CustomResource]:
    """The TriggerAuthentication (the Postgres URI from ``secret_name``/``connection_key``) and the ScaledObject
    of the queue Deployment ``target``, both named after it."""
    authentication_name = f"{target}-backlog"

    def metadata(name: str, annotations: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels),
                                          annotations=dict(annotations) if annotations else None)

    authentication = k8s.apiextensions.CustomResource(
        authentication_name,
        api_version=KEDA_API_VERSION,
        kind="TriggerAuthentication",
        metadata=metadata(authentication_name),
        spec={"secretTargetRef": [{"parameter": CONNECTION_PARAMETER, "name": secret_name, "key": connection_key}]},
        opts=opts,
    )
    scaled_object = k8s.apiextensions.CustomResource(
        target,
        api_version=KEDA_API_VERSION,
        kind="ScaledObject",
        metadata=metadata(target, {TRANSFER_HPA_OWNERSHIP: "true"}),
        spec=scaled_object_spec(target, queue, backlog_trigger(queue, n_jobs_per_worker), authentication_name),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[authentication])),
    )
    return {"trigger_authentication": authentication, "scaled_object": scaled_object}
