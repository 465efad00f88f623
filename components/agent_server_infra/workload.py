"""The ``Workload`` component: the Agent Server's Kubernetes objects (one image, two roles).

The API serves HTTP with the image's default entrypoint; the queue runs ``/storage/queue_entrypoint.sh`` and works
background runs. Both read their plain environment from a per-role ConfigMap and their secrets from one shared
Secret. Neither object has an explicit name: Pulumi generates one, a data change replaces the object (they are
``immutable``), and the new name flows into the Deployments through ``envFrom``, which rolls the pods.

This module never spells an environment variable name; it places what :func:`agent_server_infra.env.render_env`
rendered.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from . import naming
from .bootstrap import BOOTSTRAP_URI
from .bootstrap import IAM_USER as BOOTSTRAP_IAM_USER
from .bootstrap import SCRIPT as BOOTSTRAP_SCRIPT
from .bootstrap import VERSION as BOOTSTRAP_VERSION
from .bootstrap import VERSION_LABEL as BOOTSTRAP_VERSION_LABEL
from .config import IngressConfig, ScaleConfig, ServerConfig, StuckRunsConfig
from .env import POSTGRES_CA_DIR, POSTGRES_CA_FILE, POSTGRES_CA_PATH, SERVER_PORT, postgres_uri_name, verified_uri
from .errors import ConfigError, Issue
from .inputs import prevalidated, validate_args
from .k8s_fields import wire
from .keda import backlog_autoscaler
from .pod_security import TCP_RETRIES2
from .prometheus import pod_monitor
from .settings import ServerSettings
from .sizing import backlog_scaled, surge
from .stuck_runs import AFTER_SECONDS as STUCK_AFTER_SECONDS
from .stuck_runs import QUERY as STUCK_QUERY
from .stuck_runs import SCRIPT as STUCK_RUNS_SCRIPT
from .unknowns import or_unknown
from .wait_for_stores import SCRIPT as WAIT_FOR_STORES_SCRIPT
from .wait_for_stores import WAIT_SECONDS

TYPE_TOKEN = "agent-server-infra:index:Workload"
Role = Literal["api", "queue"]
ROLES: tuple[Role, ...] = ("api", "queue")
Component = Role | Literal["bootstrap", "stuck-runs"]
"""The ``app.kubernetes.io/component`` of what the workload runs: the two roles and the one-shot tasks."""

PORT = SERVER_PORT
PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"
QUEUE_COMMAND = ("/storage/queue_entrypoint.sh",)
TERMINATION_MARGIN_SECS = 30
"""Seconds the pod's termination grace period adds on top of the queue's drain period, so the kubelet never
SIGKILLs a worker that is still inside ``bgJobShutdownGracePeriodSecs``."""
API_PRE_STOP_SLEEP_SECS = 5
"""The API keeps serving this long after it is marked terminating, while endpoints and ingresses drop it."""
STARTUP_PERIOD_SECS = 5
STARTUP_FAILURE_THRESHOLD = 120
"""Up to 10 minutes for the first ``/ok?check_db=1`` (migrations run at start-up; the queue's health server only
listens once its start-up is done)."""
READINESS_PERIOD_SECS = 5
READINESS_FAILURE_THRESHOLD = 3
LIVENESS_PERIOD_SECS = 10
LIVENESS_FAILURE_THRESHOLD = 6
"""The kubelet restarts a container after ``LIVENESS_FAILURE_THRESHOLD`` failed probes ``LIVENESS_PERIOD_SECS``
apart: a liveness probe that checked the database would restart every pod 60 s into a store outage (the
integration tier's outage tests hold both probe paths to that)."""
PROBE_TIMEOUT_SECS = 5
WAIT_FOR_STORES_SECS = 180
"""The wait-for-stores init container's bound (:mod:`agent_server_infra.wait_for_stores`): an RDS Multi-AZ failover
typically takes 60-120 s (Amazon RDS User Guide, "Failing over a Multi-AZ DB instance"), so a pod scheduled during
one starts within a poll of its end, without the kubelet's restart back-off. A store still down after 180 s fails
the init container, which the kubelet retries with its back-off (the pod shows Init:Error, naming the store)."""
WAIT_FOR_STORES_CONTAINER = "wait-for-stores"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"
APP_NAME = "agent-server"

DEFAULT_STORE_PORTS = (5432, 6379)
DNS_PORT = 53
HTTPS_PORT = 443
KUBE_DNS = ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
"""Where cluster DNS runs: CoreDNS in kube-system, labelled k8s-app=kube-dns (EKS, kubeadm and most others)."""
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes on every namespace (1.21+): a namespace selected by its name."""
STUCK_RUNS_COMPONENT: Literal["stuck-runs"] = "stuck-runs"
STUCK_RUNS_DEADLINE_SECS = 120
"""A run of the stuck-runs check that takes longer (an unreachable database) fails: that is news as well."""
BOOTSTRAP_COMPONENT: Literal["bootstrap"] = "bootstrap"
BOOTSTRAP_RETRIES = 4
BOOTSTRAP_DEADLINE_SECS = 600
"""The bootstrap Job's pod retries and its deadline: Pulumi waits for the Job before either role rolls out."""
CA_VOLUME = "postgres-ca"
ALB_CLASS = "alb"
ALB_ANNOTATIONS = "alb.ingress.kubernetes.io"


class WorkloadArgs(TypedDict, total=False):
    """Arguments of :class:`Workload`: the stack config's ``server`` section (snake_case keys) and the
    environment ``AgentServer`` renders for it."""

    server: ServerSettings
    """Image, namespace, scale of both roles, ingress, IRSA role, mount prefix (standalone deployment model)."""
    env: Mapping[str, Mapping[str, pulumi.Input[str]]]
    """Plain environment per role (keys ``api`` and ``queue``), as rendered by ``env.render_env``."""
    secret_env: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    """Secret environment shared by both roles (URIs, keys); may be unknown at preview."""
    labels: Mapping[str, str]
    """Extra labels for every object (never part of a selector)."""
    store_ports: Sequence[int]
    """Ports of Postgres and Redis, the egress the NetworkPolicy allows besides DNS and HTTPS (default 5432,
    6379)."""
    bootstrap: "DatabaseBootstrap"
    """With IAM authentication: a Job makes the server's IAM database user before either role starts."""
    postgres_ca_bundle: pulumi.Input[str]
    """PEM CA bundle of the Postgres server, mounted from a ConfigMap at ``env.POSTGRES_CA_PATH`` into both roles
    (and the bootstrap Job), for a URI with ``sslmode=verify-full&sslrootcert=<that path>``."""


class DatabaseBootstrap(TypedDict):
    """What the database bootstrap Job needs: the master's URI (secret, in a Secret of the Job's own) and the IAM
    user to create."""

    master_uri: pulumi.Input[str]
    """The master user's URI (secret)."""
    iam_username: str
    """The database user the server logs in as with IAM tokens."""


def probe_paths(mount_prefix: str | None) -> tuple[str, str]:
    """``(<prefix>/ok?check_db=0, <prefix>/ok?check_db=1)``: the liveness/readiness path and the startup path.

    Both roles answer ``/ok`` under the mount prefix on ``PORT``. The queue's ``/ok`` checks the database unless
    told ``check_db=0`` (``langgraph_api/queue_entrypoint.py``; the API's default is 0): a database failover
    must not make the kubelet kill or unready every pod, so only the startup probe checks it.
    """
    base = f"{mount_prefix or ''}/ok"
    return f"{base}?check_db=0", f"{base}?check_db=1"


def alb_annotations(ingress: IngressConfig, mount_prefix: str | None) -> dict[str, str]:
    """The AWS Load Balancer Controller's annotations for an ``alb`` Ingress.

    ``target-type: ip`` because the Service is a ClusterIP (the controller's default, ``instance``, needs a
    NodePort); the health check probes ``/ok`` under the mount prefix; with an ACM certificate, HTTPS on 443 and a
    redirect from 80 (kubernetes-sigs/aws-load-balancer-controller, docs/guide/ingress/annotations.md).
    """
    annotations = {
        f"{ALB_ANNOTATIONS}/target-type": "ip",
        f"{ALB_ANNOTATIONS}/scheme": ingress.scheme,
        f"{ALB_ANNOTATIONS}/healthcheck-path": probe_paths(mount_prefix)[0],
        f"{ALB_ANNOTATIONS}/success-codes": "200",
    }
    if ingress.certificate_arn is not None:
        annotations.update({
            f"{ALB_ANNOTATIONS}/certificate-arn": ingress.certificate_arn,
            f"{ALB_ANNOTATIONS}/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
            f"{ALB_ANNOTATIONS}/ssl-redirect": "443",
        })
    return annotations


def termination_grace_period(server: ServerConfig) -> int:
    """Seconds the kubelet waits before SIGKILL: strictly above the queue's drain period."""
    return server.bg_job_shutdown_grace_period_secs + TERMINATION_MARGIN_SECS


def autoscaled(scale: ScaleConfig) -> bool:
    """Whether a HorizontalPodAutoscaler manages the role (its ceiling is above its floor)."""
    return scale.ceiling > scale.replicas


def object_name(name: str) -> str:
    """The Workload's object names' stem (its ServiceAccount's name): a DNS-1035 label leaving room for
    ``-queue``."""
    return naming.kubernetes(name, reserve=max(len(f"-{role}") for role in ROLES))


def instance_labels(name: str) -> dict[str, str]:
    """The labels every pod of one server carries (both roles and the one-shot tasks)."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": name}


def selector_labels(name: str, role: Role) -> dict[str, str]:
    return {**instance_labels(name), "app.kubernetes.io/component": role}


class Workload(pulumi.ComponentResource):
    """The Agent Server on Kubernetes: API and queue Deployments of one image, and what surrounds them.

    Creates (all children of this component, all in ``server.namespace``): the namespace when
    ``server.createNamespace``; a ServiceAccount (IRSA annotation when ``server.serviceAccountRoleArn`` is set, no
    token automount); one Secret with the secret environment and a ConfigMap per role with the plain one (both
    auto-named and immutable, so a change rolls the pods); Deployments ``<name>-api`` and ``<name>-queue``, both
    told ``PORT`` and probed there on ``<mountPrefix>/ok`` (``check_db=1`` only in the startup probe), their pods
    starting with a bounded wait-for-stores init container (:mod:`agent_server_infra.wait_for_stores`) and setting
    ``net.ipv4.tcp_retries2`` when ``server.tcpRetries2`` asks, the queue
    rolled out only once the API is ready (their migrations never race), with non-root read-only containers, zone
    and host spread, surge-only rolling updates with ``maxSurge = sizing.surge(ceiling)`` and a termination grace
    period above the drain period; a ClusterIP Service for the API; a PodDisruptionBudget per role; a CPU
    HorizontalPodAutoscaler per role whose ``maxReplicas`` is above ``replicas`` (the Deployment then leaves
    ``replicas`` to the autoscaler), or for a queue with ``autoscaling: backlog`` a KEDA ScaledObject on the
    pending runs with its TriggerAuthentication (:mod:`agent_server_infra.keda`); with ``bootstrap``, the database
    bootstrap Job and its Secret, which both roles wait for; with ``postgres_ca_bundle``, a ConfigMap of the Postgres
    CA bundle (auto-named, immutable) mounted read-only at ``env.POSTGRES_CA_DIR`` into both roles and the bootstrap
    Job; with ``server.stuckRuns``, a CronJob that fails when a run stays ``running`` too long
    (:mod:`agent_server_infra.stuck_runs`); and an Ingress when
    ``server.ingress`` is set (with the AWS Load Balancer Controller's annotations for ``className: alb``). A
    name that is not a DNS-1035 label is cleaned and hashed (:mod:`agent_server_infra.naming`).

    Outputs: ``namespace``, ``service_name``, ``service_account_name``, ``url`` (in-cluster URL of the API,
    mount prefix included) and ``deployment_names`` (``{"api": ..., "queue": ...}``).
    """

    namespace: pulumi.Output[str]
    service_name: pulumi.Output[str]
    service_account_name: pulumi.Output[str]
    url: pulumi.Output[str]
    deployment_names: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        source = f"Workload {name}"
        server = validate_args({"server": args.get("server") or {}}, source=source,
                               sections=("server",)).config.server
        if server.deployment_model != "standalone":
            raise ConfigError([Issue("server.deploymentModel", "a Workload runs the server itself: standalone "
                                     f"only (got {server.deployment_model!r})")], source)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._build(name, server, args.get("env") or {}, args.get("secret_env") or {}, args.get("labels"),
                    tuple(args.get("store_ports") or DEFAULT_STORE_PORTS), args.get("bootstrap"),
                    args.get("postgres_ca_bundle"))

    @classmethod
    def _validated(cls, name: str, server: ServerConfig, env: Mapping[str, Mapping[str, Any]],
                   secret_env: pulumi.Input[Mapping[str, pulumi.Input[str]]], labels: Mapping[str, str] | None,
                   store_ports: Sequence[int], opts: pulumi.ResourceOptions | None = None,
                   bootstrap: DatabaseBootstrap | None = None,
                   postgres_ca_bundle: pulumi.Input[str] | None = None) -> "Workload":
        """A Workload of a server config that ``AgentServer`` validated already (with the whole stack)."""
        self = prevalidated(cls, TYPE_TOKEN, name, opts)
        self._build(name, server, env, secret_env, labels, store_ports, bootstrap, postgres_ca_bundle)
        return self

    def _build(self, name: str, server: ServerConfig, env: Mapping[str, Mapping[str, Any]],
               secret_env: pulumi.Input[Mapping[str, pulumi.Input[str]]], labels: Mapping[str, str] | None,
               store_ports: Sequence[int], bootstrap: DatabaseBootstrap | None = None,
               postgres_ca_bundle: pulumi.Input[str] | None = None) -> None:
        missing = [role for role in ROLES if role not in env]
        if missing:
            raise ValueError(f"env must have a plain environment for each role; missing {missing}")
        # Object names (``<name>-queue``) are DNS-1035 labels; a name that is not one is cleaned and hashed.
        name = object_name(name)
        self._name = name
        self._server = server
        self._labels = dict(labels or {})
        namespace_name = server.namespace

        namespace: k8s.core.v1.Namespace | None = None
        if server.create_namespace:
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=wire(k8s.meta.v1.ObjectMetaArgs, name=namespace_name, labels=self._common_labels()),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self._depends_on: list[pulumi.Resource] = [namespace] if namespace is not None else []

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=self._metadata(
                name,
                annotations={IRSA_ANNOTATION: server.service_account_role_arn}
                if server.service_account_role_arn else None,
            ),
            automount_service_account_token=False,
            opts=self._opts(),
        )

        secret = k8s.core.v1.Secret(
            f"{name}-env",
            metadata=self._metadata(None),
            type="Opaque",
            immutable=True,
            string_data=pulumi.Output.secret(secret_env),
            opts=self._opts(additional_secret_outputs=["data", "stringData"]),
        )

        # The Postgres CA bundle: auto-named and immutable like the env, so a new bundle rolls the pods.
        self._postgres_ca = k8s.core.v1.ConfigMap(
            f"{name}-postgres-ca",
            metadata=self._metadata(None),
            data={POSTGRES_CA_FILE: postgres_ca_bundle},
            immutable=True,
            opts=self._opts(),
        ) if postgres_ca_bundle is not None else None

        # Both roles start only once the bootstrap Job has made their database user.
        job = [self._bootstrap(bootstrap, service_account)] if bootstrap is not None else []

        deployments: dict[Role, k8s.apps.v1.Deployment] = {}
        for role in ROLES:
            config_map = k8s.core.v1.ConfigMap(
                f"{name}-{role}-env",
                metadata=self._metadata(None, role),
                data=dict(env[role]),
                immutable=True,
                opts=self._opts(),
            )
            # Both roles run the server's migrations at start-up, and two at once on a fresh database crash one
            # of them (UniqueViolation on alembic_version): the queue rolls out only once the API is ready
            # (pulumi-kubernetes waits for a Deployment's rollout before its dependents).
            after: list[pulumi.Resource] = [deployments["api"]] if role == "queue" else list(job)
            deployments[role] = self._deployment(role, config_map, secret, service_account, after)
            self._disruption_budget(role)
            if role == "queue" and backlog_scaled(server):
                backlog_autoscaler(
                    f"{name}-queue", server.queue, server.n_jobs_per_worker, namespace=namespace_name,
                    labels=self._common_labels("queue"), secret_name=_name_of(secret),
                    connection_key=postgres_uri_name(server.deployment_model),
                    opts=self._opts([deployments["queue"]]),
                )
            else:
                self._autoscaler(role)

        service = k8s.core.v1.Service(
            f"{name}-api",
            metadata=self._metadata(f"{name}-api", "api"),
            spec=wire(k8s.core.v1.ServiceSpecArgs,
                type="ClusterIP",
                selector=selector_labels(name, "api"),
                ports=[wire(k8s.core.v1.ServicePortArgs,
                    name=PORT_NAME, port=PORT, target_port=PORT_NAME, protocol="TCP", app_protocol="http",
                )],
            ),
            opts=self._opts(),
        )
        if server.ingress is not None:
            self._ingress(service, server.ingress)
        if server.stuck_runs is not None:
            # After the queue: its first run happens on a migrated database (its query reads the runs table).
            self._stuck_runs_check(server.stuck_runs, secret, service_account, [deployments["queue"]])
        if server.network_policy.enabled:
            self._network_policies(store_ports)
        if server.metrics.enabled and server.metrics.pod_monitor:
            pod_monitor(f"{name}-metrics", namespace=namespace_name, labels=self._common_labels(),
                        selector=instance_labels(name),
                        roles=ROLES, port_name=PORT_NAME, mount_prefix=server.mount_prefix, metrics=server.metrics,
                        opts=self._opts(list(deployments.values())))

        self.namespace = (
            namespace.metadata.apply(lambda meta: meta.name or namespace_name)
            if namespace is not None else pulumi.Output.from_input(namespace_name)
        )
        self.service_name = _name_of(service)
        self.service_account_name = _name_of(service_account)
        mount_prefix = server.mount_prefix or ""
        self.url = pulumi.Output.all(self.service_name, self.namespace).apply(
            lambda names: f"http://{names[0]}.{names[1]}.svc.cluster.local:{PORT}{mount_prefix}")
        self.deployment_names = pulumi.Output.all(*(_name_of(deployments[role]) for role in ROLES)).apply(
            lambda names: dict(zip(ROLES, names, strict=True))
        )
        self.register_outputs({
            "namespace": self.namespace,
            "service_name": self.service_name,
            "service_account_name": self.service_account_name,
            "url": self.url,
            "deployment_names": self.deployment_names,
        })

    # --- helpers ---------------------------------------------------------------------------------------------

    def _common_labels(self, role: Component | None = None) -> dict[str, str]:
        labels = {**self._labels, **instance_labels(self._name), "app.kubernetes.io/managed-by": "pulumi"}
        if role is not None:
            labels["app.kubernetes.io/component"] = role
        return labels

    def _metadata(
        self, name: str | None, role: Component | None = None, annotations: Mapping[str, str] | None = None,
    ) -> Any:
        return wire(k8s.meta.v1.ObjectMetaArgs,
            name=name,
            namespace=self._server.namespace,
            labels=self._common_labels(role),
            annotations=dict(annotations) if annotations else None,
        )

    def _opts(self, after: Sequence[pulumi.Resource] = (), **kwargs: Any) -> pulumi.ResourceOptions:
        depends_on = [*self._depends_on, *after]
        return pulumi.ResourceOptions(parent=self, depends_on=depends_on or None, **kwargs)

    def _scale(self, role: Role) -> ScaleConfig:
        return self._server.api if role == "api" else self._server.queue

    def _deployment(
        self,
        role: Role,
        config_map: "k8s.core.v1.ConfigMap",
        secret: "k8s.core.v1.Secret",
        service_account: "k8s.core.v1.ServiceAccount",
        after: Sequence[pulumi.Resource],
    ) -> "k8s.apps.v1.Deployment":
        server, scale, name = self._server, self._scale(role), self._name
        selector = selector_labels(name, role)
        live_path, startup_path = probe_paths(server.mount_prefix)
        limits = {"memory": scale.memory_limit or scale.memory}
        if scale.cpu_limit is not None:
            limits["cpu"] = scale.cpu_limit

        def http_probe(path: str, period: int, failures: int) -> Any:
            return wire(k8s.core.v1.ProbeArgs,
                http_get=wire(k8s.core.v1.HTTPGetActionArgs, path=path, port=PORT_NAME),
                period_seconds=period, timeout_seconds=PROBE_TIMEOUT_SECS, failure_threshold=failures,
            )

        def spread(key: str) -> Any:
            return wire(k8s.core.v1.TopologySpreadConstraintArgs,
                topology_key=key, max_skew=1, when_unsatisfiable="ScheduleAnyway",
                label_selector=wire(k8s.meta.v1.LabelSelectorArgs, match_labels=selector),
                match_label_keys=["pod-template-hash"],
            )

        env_from = [
            wire(k8s.core.v1.EnvFromSourceArgs,
                config_map_ref=wire(k8s.core.v1.ConfigMapEnvSourceArgs, name=_name_of(config_map))),
            _secret_env(secret),
        ]
        volume_mounts = [wire(k8s.core.v1.VolumeMountArgs, name="tmp", mount_path="/tmp"), *self._ca_mounts()]
        container = wire(k8s.core.v1.ContainerArgs,
            name=role,
            image=server.image,
            command=list(QUEUE_COMMAND) if role == "queue" else None,
            ports=[wire(k8s.core.v1.ContainerPortArgs, name=PORT_NAME, container_port=PORT, protocol="TCP"),
                   *([wire(k8s.core.v1.ContainerPortArgs, name=METRICS_PORT_NAME, container_port=server.metrics.port,
                                                    protocol="TCP")] if server.metrics.enabled else [])],
            env_from=env_from,
            resources=wire(k8s.core.v1.ResourceRequirementsArgs,
                requests={"cpu": scale.cpu, "memory": scale.memory}, limits=limits,
            ),
            startup_probe=http_probe(startup_path, STARTUP_PERIOD_SECS, STARTUP_FAILURE_THRESHOLD),
            readiness_probe=http_probe(live_path, READINESS_PERIOD_SECS, READINESS_FAILURE_THRESHOLD),
            liveness_probe=http_probe(live_path, LIVENESS_PERIOD_SECS, LIVENESS_FAILURE_THRESHOLD),
            lifecycle=wire(k8s.core.v1.LifecycleArgs,
                pre_stop=wire(k8s.core.v1.LifecycleHandlerArgs,
                    sleep=wire(k8s.core.v1.SleepActionArgs, seconds=API_PRE_STOP_SLEEP_SECS)),
            ) if role == "api" else None,
            security_context=_container_security(),
            volume_mounts=volume_mounts,
        )
        pod = wire(k8s.core.v1.PodSpecArgs,
            service_account_name=_name_of(service_account),
            automount_service_account_token=False,
            enable_service_links=False,
            termination_grace_period_seconds=termination_grace_period(server),
            security_context=_pod_security(server, sysctls=pod_sysctls(server)),
            topology_spread_constraints=[spread(ZONE_KEY), spread(HOST_KEY)],
            init_containers=[_wait_for_stores(server.image, env_from, volume_mounts)],
            containers=[container],
            volumes=[wire(k8s.core.v1.VolumeArgs, name="tmp", empty_dir=wire(k8s.core.v1.EmptyDirVolumeSourceArgs)),
                     *self._ca_volumes()],
        )
        return k8s.apps.v1.Deployment(
            f"{name}-{role}",
            metadata=self._metadata(f"{name}-{role}", role),
            spec=wire(k8s.apps.v1.DeploymentSpecArgs,
                # Under an autoscaler, the HPA owns the replica count: re-applying a fixed value would reset it on
                # every update (and conflict with the HPA's field ownership under server-side apply).
                replicas=None if autoscaled(scale) else scale.replicas,
                selector=wire(k8s.meta.v1.LabelSelectorArgs, match_labels=selector),
                strategy=wire(k8s.apps.v1.DeploymentStrategyArgs,
                    type="RollingUpdate",
                    rolling_update=wire(k8s.apps.v1.RollingUpdateDeploymentArgs,
                        max_unavailable=0, max_surge=surge(scale.ceiling),
                    ),
                ),
                template=wire(k8s.core.v1.PodTemplateSpecArgs,
                    metadata=wire(k8s.meta.v1.ObjectMetaArgs, labels=self._common_labels(role)),
                    spec=pod,
                ),
            ),
            opts=self._opts(after),
        )

    def _bootstrap(self, bootstrap: DatabaseBootstrap,
                   service_account: "k8s.core.v1.ServiceAccount") -> "k8s.batch.v1.Job":
        """The database bootstrap Job (:mod:`agent_server_infra.bootstrap`) with its own Secret (the master URI):
        auto-named, so a changed Secret or script replaces it and it runs again; both roles wait for it."""
        labels = self._common_labels(BOOTSTRAP_COMPONENT)
        versioned = {**labels, BOOTSTRAP_VERSION_LABEL: str(BOOTSTRAP_VERSION)}
        secret = k8s.core.v1.Secret(
            f"{self._name}-bootstrap",
            metadata=self._metadata(None, BOOTSTRAP_COMPONENT),
            type="Opaque",
            immutable=True,
            string_data=pulumi.Output.secret(pulumi.Output.from_input(bootstrap["master_uri"]).apply(
                lambda uri: {BOOTSTRAP_URI: verified_uri(uri, POSTGRES_CA_PATH) if self._postgres_ca else uri})),
            opts=self._opts(additional_secret_outputs=["data", "stringData"]),
        )
        container = _task_container(BOOTSTRAP_COMPONENT, self._server.image, BOOTSTRAP_SCRIPT, [_secret_env(secret)],
            {BOOTSTRAP_IAM_USER: bootstrap["iam_username"]}, self._ca_mounts())
        return k8s.batch.v1.Job(
            f"{self._name}-bootstrap",
            metadata=wire(k8s.meta.v1.ObjectMetaArgs, namespace=self._server.namespace, labels=versioned),
            spec=wire(k8s.batch.v1.JobSpecArgs,
                backoff_limit=BOOTSTRAP_RETRIES,
                active_deadline_seconds=BOOTSTRAP_DEADLINE_SECS,
                template=wire(k8s.core.v1.PodTemplateSpecArgs,
                    metadata=wire(k8s.meta.v1.ObjectMetaArgs, labels=labels),
                    spec=self._task_pod(container, service_account),
                ),
            ),
            opts=self._opts(),
        )

    def _ca_volumes(self) -> list[Any]:
        if self._postgres_ca is None:
            return []
        return [wire(k8s.core.v1.VolumeArgs, name=CA_VOLUME, config_map=wire(k8s.core.v1.ConfigMapVolumeSourceArgs,
            name=_name_of(self._postgres_ca), default_mode=0o444))]

    def _ca_mounts(self) -> list[Any]:
        if self._postgres_ca is None:
            return []
        return [wire(k8s.core.v1.VolumeMountArgs, name=CA_VOLUME, mount_path=POSTGRES_CA_DIR, read_only=True)]

    def _stuck_runs_check(self, check: StuckRunsConfig, secret: "k8s.core.v1.Secret",
                          service_account: "k8s.core.v1.ServiceAccount",
                          after: Sequence[pulumi.Resource]) -> "k8s.batch.v1.CronJob":
        """The stuck-runs check (:mod:`agent_server_infra.stuck_runs`): a CronJob in the server image, with the
        server's Secret and its own query and bound; a run of it fails when a run stayed ``running`` too long. One
        run at a time, none retried (the next schedule is the retry), the last failures kept for ``kubectl``."""
        labels = self._common_labels(STUCK_RUNS_COMPONENT)
        # The Secret's DATABASE_URI names the CA bundle's path when there is one: the check mounts it as well.
        container = _task_container(STUCK_RUNS_COMPONENT, self._server.image, STUCK_RUNS_SCRIPT, [_secret_env(secret)],
            {STUCK_AFTER_SECONDS: str(check.after_seconds), STUCK_QUERY: check.query}, self._ca_mounts())
        name = naming.physical(naming.K8S_CRONJOB, f"{self._name}-{STUCK_RUNS_COMPONENT}")
        return k8s.batch.v1.CronJob(
            name,
            metadata=self._metadata(name, STUCK_RUNS_COMPONENT),
            spec=wire(k8s.batch.v1.CronJobSpecArgs,
                schedule=check.schedule,
                concurrency_policy="Forbid",
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=3,
                job_template=wire(k8s.batch.v1.JobTemplateSpecArgs,
                    metadata=wire(k8s.meta.v1.ObjectMetaArgs, labels=labels),
                    spec=wire(k8s.batch.v1.JobSpecArgs,
                        backoff_limit=0,
                        active_deadline_seconds=STUCK_RUNS_DEADLINE_SECS,
                        template=wire(k8s.core.v1.PodTemplateSpecArgs,
                            metadata=wire(k8s.meta.v1.ObjectMetaArgs, labels=labels),
                            spec=self._task_pod(container, service_account),
                        ),
                    ),
                ),
            ),
            opts=self._opts(after),
        )

    def _task_pod(self, container: Any, service_account: "k8s.core.v1.ServiceAccount") -> Any:
        """The pod of a one-shot task (the bootstrap Job, the stuck-runs check): run once, never restarted in place,
        the server's service account without its token, the server's pod security, the CA bundle's volume."""
        return wire(k8s.core.v1.PodSpecArgs,
            restart_policy="Never",
            service_account_name=_name_of(service_account),
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=_pod_security(self._server),
            containers=[container],
            volumes=self._ca_volumes() or None,
        )

    def _disruption_budget(self, role: Role) -> "k8s.policy.v1.PodDisruptionBudget":
        return k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-{role}",
            metadata=self._metadata(f"{self._name}-{role}", role),
            spec=wire(k8s.policy.v1.PodDisruptionBudgetSpecArgs,
                max_unavailable=1,
                selector=wire(k8s.meta.v1.LabelSelectorArgs, match_labels=selector_labels(self._name, role)),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=self._opts(),
        )

    def _autoscaler(self, role: Role) -> "k8s.autoscaling.v2.HorizontalPodAutoscaler | None":
        scale = self._scale(role)
        if not autoscaled(scale):
            return None
        target = f"{self._name}-{role}"
        return k8s.autoscaling.v2.HorizontalPodAutoscaler(
            target,
            metadata=self._metadata(target, role),
            spec=wire(k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs,
                scale_target_ref=wire(k8s.autoscaling.v2.CrossVersionObjectReferenceArgs,
                    api_version="apps/v1", kind="Deployment", name=target,
                ),
                min_replicas=scale.replicas,
                max_replicas=scale.ceiling,
                metrics=[wire(k8s.autoscaling.v2.MetricSpecArgs,
                    type="Resource",
                    resource=wire(k8s.autoscaling.v2.ResourceMetricSourceArgs,
                        name="cpu",
                        target=wire(k8s.autoscaling.v2.MetricTargetArgs,
                            type="Utilization", average_utilization=scale.target_cpu_percent,
                        ),
                    ),
                )],
            ),
            opts=self._opts(),
        )

    def _network_policies(self, store_ports: Sequence[int]) -> None:
        """Default deny for every pod of the server, then: the API reachable from its own namespace, the ingress
        controller's namespaces and ``ingressCidrs`` on its port; the queue from its own namespace; with metrics,
        both from ``metrics.scraperNamespaces`` on PORT and the metrics port; egress to cluster DNS, to the stores'
        ports (at ``storeCidrs``, else anywhere) and to HTTPS."""
        policy = self._server.network_policy
        instance = instance_labels(self._name)

        def network_policy(suffix: str, pods: Mapping[str, str], spec: dict[str, Any]) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-{suffix}",
                metadata=self._metadata(f"{self._name}-{suffix}"),
                spec=wire(k8s.networking.v1.NetworkPolicySpecArgs,
                    pod_selector=wire(k8s.meta.v1.LabelSelectorArgs, match_labels=dict(pods)), **spec),
                opts=self._opts(),
            )

        network_policy("default-deny", instance, {"policy_types": ["Ingress", "Egress"]})
        sources = [_peer(pods={}), *(_peer(namespace={NAMESPACE_LABEL: name}) for name in policy.ingress_namespaces),
                   *(_peer(cidr=cidr) for cidr in policy.ingress_cidrs)]
        # The scraper (Prometheus in its namespaces) reaches both roles' metrics: PORT and the dedicated port.
        metrics = self._server.metrics
        scrape = [wire(k8s.networking.v1.NetworkPolicyIngressRuleArgs,
            from_=[_peer(namespace={NAMESPACE_LABEL: name}) for name in metrics.scraper_namespaces],
            ports=_ports(PORT, metrics.port))] if metrics.enabled and metrics.scraper_namespaces else []
        network_policy("api-ingress", selector_labels(self._name, "api"), {
            "policy_types": ["Ingress"],
            "ingress": [wire(k8s.networking.v1.NetworkPolicyIngressRuleArgs, from_=sources, ports=_ports(PORT)),
                        *scrape]})
        network_policy("queue-ingress", selector_labels(self._name, "queue"), {
            "policy_types": ["Ingress"],
            "ingress": [wire(k8s.networking.v1.NetworkPolicyIngressRuleArgs, from_=[_peer(pods={})],
                             ports=_ports(PORT)), *scrape]})
        dns_namespace, dns_pods = KUBE_DNS
        stores = [_peer(cidr=cidr) for cidr in policy.store_cidrs] or None
        network_policy("egress", instance, {"policy_types": ["Egress"], "egress": [
            wire(k8s.networking.v1.NetworkPolicyEgressRuleArgs, to=[_peer(namespace=dns_namespace, pods=dns_pods)],
                                                          ports=_ports(DNS_PORT, protocols=("UDP", "TCP"))),
            wire(k8s.networking.v1.NetworkPolicyEgressRuleArgs, to=stores, ports=_ports(*sorted(set(store_ports)))),
            wire(k8s.networking.v1.NetworkPolicyEgressRuleArgs, to=[_peer(cidr=cidr) for cidr in policy.https_cidrs],
                                                          ports=_ports(HTTPS_PORT)),
        ]})

    def _ingress(self, service: "k8s.core.v1.Service", ingress: IngressConfig) -> "k8s.networking.v1.Ingress":
        annotations = alb_annotations(ingress, self._server.mount_prefix) if ingress.class_name == ALB_CLASS else None
        return k8s.networking.v1.Ingress(
            f"{self._name}-api",
            metadata=self._metadata(f"{self._name}-api", "api", annotations),
            spec=wire(k8s.networking.v1.IngressSpecArgs,
                ingress_class_name=ingress.class_name,
                tls=[wire(k8s.networking.v1.IngressTLSArgs, hosts=[ingress.host], secret_name=ingress.tls_secret_name)]
                if ingress.tls_secret_name else None,
                rules=[wire(k8s.networking.v1.IngressRuleArgs,
                    host=ingress.host,
                    http=wire(k8s.networking.v1.HTTPIngressRuleValueArgs,
                              paths=[wire(k8s.networking.v1.HTTPIngressPathArgs,
                        path=self._server.mount_prefix or "/",
                        path_type="Prefix",
                        backend=wire(k8s.networking.v1.IngressBackendArgs,
                            service=wire(k8s.networking.v1.IngressServiceBackendArgs,
                                name=_name_of(service),
                                port=wire(k8s.networking.v1.ServiceBackendPortArgs, number=PORT),
                            ),
                        ),
                    )]),
                )],
            ),
            opts=self._opts(),
        )


def pod_sysctls(server: ServerConfig) -> dict[str, str]:
    """The sysctls both roles' pods set: ``net.ipv4.tcp_retries2`` when ``server.tcpRetries2`` opts in (an unsafe
    sysctl, :data:`agent_server_infra.pod_security.TCP_RETRIES2`), else none."""
    return {TCP_RETRIES2: str(server.tcp_retries2)} if server.tcp_retries2 is not None else {}


def _wait_for_stores(image: pulumi.Input[str] | None, env_from: Sequence[Any],
                     volume_mounts: Sequence[Any]) -> Any:
    """The init container: the server image runs :data:`~agent_server_infra.wait_for_stores.SCRIPT` with the
    server's own environment and mounts (the URIs come from the Secret, a CA bundle from wherever the server reads
    it), under the same security context."""
    return _task_container(WAIT_FOR_STORES_CONTAINER, image, WAIT_FOR_STORES_SCRIPT, env_from,
                           {WAIT_SECONDS: str(WAIT_FOR_STORES_SECS)}, volume_mounts)


def _task_container(name: str, image: pulumi.Input[str] | None, script: str, env_from: Sequence[Any],
                    env: Mapping[str, pulumi.Input[str]], volume_mounts: Sequence[Any]) -> Any:
    """A one-shot container (the bootstrap, the stuck-runs check, the wait for the stores): ``python -c`` of its
    script in the server image, small requests, the server containers' security context."""
    return wire(k8s.core.v1.ContainerArgs,
        name=name,
        image=image,
        command=["python", "-c", script],
        env_from=list(env_from),
        env=[wire(k8s.core.v1.EnvVarArgs, name=key, value=value) for key, value in env.items()],
        resources=wire(k8s.core.v1.ResourceRequirementsArgs, requests={"cpu": "50m", "memory": "128Mi"},
                       limits={"memory": "256Mi"}),
        security_context=_container_security(),
        volume_mounts=list(volume_mounts) or None,
    )


def _container_security() -> Any:
    return wire(k8s.core.v1.SecurityContextArgs,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=wire(k8s.core.v1.CapabilitiesArgs, drop=["ALL"]),
    )


def _pod_security(server: ServerConfig, sysctls: Mapping[str, str] | None = None,
                  ) -> Any:
    return wire(k8s.core.v1.PodSecurityContextArgs,
        run_as_non_root=True, run_as_user=server.run_as_user, run_as_group=server.run_as_group,
        fs_group=server.run_as_group,
        seccomp_profile=wire(k8s.core.v1.SeccompProfileArgs, type="RuntimeDefault"),
        sysctls=[wire(k8s.core.v1.SysctlArgs, name=name, value=value) for name, value in sysctls.items()] if sysctls
        else None,
    )


def _peer(namespace: Mapping[str, str] | None = None, pods: Mapping[str, str] | None = None,
          cidr: pulumi.Input[str] | None = None) -> Any:
    return wire(k8s.networking.v1.NetworkPolicyPeerArgs,
        namespace_selector=wire(k8s.meta.v1.LabelSelectorArgs, match_labels=dict(namespace)) if namespace is not None
        else None,
        pod_selector=wire(k8s.meta.v1.LabelSelectorArgs, match_labels=dict(pods)) if pods is not None else None,
        ip_block=wire(k8s.networking.v1.IPBlockArgs, cidr=cidr) if cidr is not None else None,
    )


def _ports(*numbers: int | str, protocols: Sequence[str] = ("TCP",)) -> list[Any]:
    return [wire(k8s.networking.v1.NetworkPolicyPortArgs, port=number, protocol=protocol)
            for number in numbers for protocol in protocols]


def _secret_env(secret: Any) -> Any:
    """Every key of the server's Secret as environment variables (``envFrom``)."""
    return wire(k8s.core.v1.EnvFromSourceArgs, secret_ref=wire(k8s.core.v1.SecretEnvSourceArgs, name=_name_of(secret)))


def _name_of(resource: Any) -> pulumi.Output[str]:
    """``metadata.name`` of a Kubernetes resource as an output (carries the dependency on the resource)."""
    metadata: pulumi.Output[Any] = resource.metadata
    # An auto-name the engine did not give (unit-test mocks return the inputs) is unknown, not the text "None".
    return metadata.apply(lambda meta: or_unknown(meta.name))
