"""The Workload component under the mock engine: what it asks Kubernetes for, checked on the recorded inputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import kubernetes_validate
import pulumi
import pytest

from agent_server_infra import env, sizing
from agent_server_infra.config import (
    IngressConfig,
    NetworkPolicyConfig,
    QueueScaleConfig,
    ScaleConfig,
    Secrets,
    ServerConfig,
)
from agent_server_infra.plan import engine
from agent_server_infra.plan.manifests import MASK
from agent_server_infra.settings import ServerSettings
from agent_server_infra.validate import validate_stack
from agent_server_infra.workload import Workload, WorkloadArgs
from tests.components import k8s_validate
from tests.helpers import full_raw

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
NAMESPACE = "kubernetes:core/v1:Namespace"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
ROLES = ("api", "queue")

PASSWORD = "pg-Pa55/w0rd@x"
TOKEN = "redis-T0ken-q7"
PG = env.PostgresFacts(host="db.internal", port=5432, database="agents", user="app", password=PASSWORD)
REDIS = env.RedisFacts(host="cache.internal", port=6379, token=TOKEN)
SECRETS = Secrets.model_validate({"licenseKey": "lic-L1c3nse", "langsmithApiKey": "lsv2_pt_S3cret"})
ROLE_ARN = "arn:aws:iam::123456789012:role/agent-server"


def server_config(**overrides: Any) -> ServerConfig:
    values: dict[str, Any] = {"image": "r.example.com/a:1", "create_namespace": True}
    values.update(overrides)
    return ServerConfig(**values)


def render(server: ServerConfig, secrets: Secrets = SECRETS) -> dict[str, env.RenderedEnv]:
    return {
        role: env.render_env(server, secrets, PG, REDIS, pool_max_size=20, redis_max_connections=100, role=role)
        for role in ROLES
    }


def run(
    server: ServerConfig, secrets: Secrets = SECRETS, labels: Mapping[str, str] | None = None,
) -> tuple[engine.Recording, dict[str, env.RenderedEnv]]:
    rendered = render(server, secrets)
    shared = rendered["queue"].secret
    assert shared == rendered["api"].secret

    def program() -> None:
        args: WorkloadArgs = {
            "server": cast(ServerSettings, server.model_dump(exclude_unset=True)),
            "env": {role: rendered[role].plain for role in ROLES},
            "secret_env": pulumi.Output.secret(shared),
        }
        if labels is not None:
            args["labels"] = labels
        workload = Workload("srv", args)
        pulumi.export("namespace", workload.namespace)
        pulumi.export("service_name", workload.service_name)
        pulumi.export("url", workload.url)
        pulumi.export("deployment_names", workload.deployment_names)

    return engine.run(program), rendered


def pod_spec(rec: engine.Recording, role: str) -> dict[str, Any]:
    return rec.one(DEPLOYMENT, f"srv-{role}").inputs["spec"]["template"]["spec"]


def container(rec: engine.Recording, role: str) -> dict[str, Any]:
    containers = pod_spec(rec, role)["containers"]
    assert len(containers) == 1
    return containers[0]


def kubernetes_resources(rec: engine.Recording) -> list[engine.RecordedResource]:
    return [resource for resource in rec.resources if resource.type.startswith("kubernetes:")]


@pytest.fixture(scope="module")
def full() -> tuple[engine.Recording, dict[str, env.RenderedEnv]]:
    """Every seed variable set (telemetry, mongo, checkpoint delete, ...), autoscaled roles, an ingress."""
    stack = validate_stack(full_raw())
    server = stack.config.server.model_copy(update={
        "ingress": IngressConfig(host="agents.example.com", class_name="alb",
                                 certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/abc"),
        "network_policy": NetworkPolicyConfig(ingress_cidrs=["10.0.0.0/16"]),
        "service_account_role_arn": ROLE_ARN,
    })
    return run(server, stack.config.secrets, labels={"team": "agents"})


# --- grace period -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("grace", [0, 30, 180, 900, 3600])
def test_termination_grace_period_exceeds_the_drain_period(grace: int) -> None:
    rec, rendered = run(server_config(bg_job_shutdown_grace_period_secs=grace))
    for role in ROLES:
        drain = int(rendered[role].plain["BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS"])
        assert drain == grace
        assert pod_spec(rec, role)["terminationGracePeriodSeconds"] > drain


def test_api_pre_stop_sleep_fits_inside_the_grace_period() -> None:
    rec, rendered = run(server_config(bg_job_shutdown_grace_period_secs=180))
    sleep = container(rec, "api")["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(rendered["api"].plain["BG_JOB_SHUTDOWN_GRACE_PERIOD_SECS"])
    assert sleep + drain < pod_spec(rec, "api")["terminationGracePeriodSeconds"]
    assert "lifecycle" not in container(rec, "queue")


# --- probes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "path"), [("/agents", "/agents/ok"), ("/a/b", "/a/b/ok"), (None, "/ok")])
def test_probes_follow_the_mount_prefix(prefix: str | None, path: str) -> None:
    rec, rendered = run(server_config(mount_prefix=prefix))
    for role in ROLES:
        spec = container(rec, role)
        # the queue's /ok checks the database unless told not to: only the startup probe may
        assert spec["readinessProbe"]["httpGet"] == {"path": f"{path}?check_db=0", "port": "http"}
        assert spec["livenessProbe"]["httpGet"] == {"path": f"{path}?check_db=0", "port": "http"}
        assert spec["startupProbe"]["httpGet"] == {"path": f"{path}?check_db=1", "port": "http"}
        assert spec["startupProbe"]["failureThreshold"] * spec["startupProbe"]["periodSeconds"] >= 300
        assert spec["livenessProbe"]["failureThreshold"] >= 3
        assert spec["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        # the queue's health server binds $PORT (8080 without it): both roles are told the probed port
        assert rendered[role].plain["PORT"] == "8000"
        # the server itself is told the same prefix
        assert rendered[role].plain.get("MOUNT_PREFIX") == prefix


# --- env placement ----------------------------------------------------------------------------------------


def test_every_variable_lands_in_the_secret_or_a_config_map_by_the_table(full: Any) -> None:
    rec, rendered = full
    secret = rec.one(SECRET)
    assert secret.inputs["type"] == "Opaque"
    assert isinstance(secret.inputs["stringData"], engine.Secret), "stringData must be recorded as secret"
    secret_data = secret.plain_inputs["stringData"]
    assert secret_data == rendered["queue"].secret
    assert secret_data, "the full config renders secrets"
    for name in secret_data:
        assert env.ENV[name].secret, f"{name} is not a secret row but is in the Secret"
    for role in ROLES:
        data = rec.one(CONFIG_MAP, f"srv-{role}-env").inputs["data"]
        assert data == rendered[role].plain
        for name in data:
            assert name in env.ENV, f"{name} is not a row of the env table"
            assert not env.ENV[name].secret, f"secret {name} is in the {role} ConfigMap"
    rendered_names = set(secret_data) | set(rendered["api"].plain) | set(rendered["queue"].plain)
    assert rendered_names == set(rendered["queue"].merged())


def test_extra_env_goes_to_the_config_maps() -> None:
    rec, _ = run(server_config(extra_env={"MY_FLAG": "on"}))
    for role in ROLES:
        data = rec.one(CONFIG_MAP, f"srv-{role}-env").inputs["data"]
        assert data["MY_FLAG"] == "on"
        assert all(name == "MY_FLAG" or not env.ENV[name].secret for name in data)


def test_no_secret_value_appears_outside_the_secret(full: Any) -> None:
    rec, rendered = full
    values = [*rendered["queue"].secret.values(), PASSWORD, TOKEN]
    stack = validate_stack(full_raw())
    for key in ("langsmith_api_key", "license_key", "datadog_api_key", "mongodb_uri", "otel_headers"):
        plain = stack.config.secrets.plain(key)
        assert plain is not None
        values.append(plain)
    for resource in rec.resources:
        if resource.type == SECRET:
            continue
        text = json.dumps(resource.inputs, default=repr) + json.dumps(resource.outputs, default=repr)
        for value in values:
            assert value not in text, f"a secret value leaks into {resource.type} {resource.name}"


def test_deployments_read_env_from_their_config_map_and_the_secret() -> None:
    rec, _ = run(server_config())
    secret = rec.one(SECRET)
    for role in ROLES:
        config_map = rec.one(CONFIG_MAP, f"srv-{role}-env")
        assert "name" not in config_map.inputs["metadata"], "ConfigMaps are auto-named so a change rolls the pods"
        assert config_map.inputs["immutable"] is True
        env_from = container(rec, role)["envFrom"]
        assert env_from == [
            {"configMapRef": {"name": config_map.outputs["metadata"]["name"]}},
            {"secretRef": {"name": secret.outputs["metadata"]["name"]}},
        ]
        assert "env" not in container(rec, role)
        deployment = rec.one(DEPLOYMENT, f"srv-{role}")
        assert config_map.urn in deployment.dependencies
        assert secret.urn in deployment.dependencies
    assert "name" not in secret.inputs["metadata"]


def test_secret_outputs_are_marked_secret() -> None:
    rec, _ = run(server_config())
    secret = rec.one(SECRET)
    assert isinstance(secret.outputs["stringData"], engine.Secret)


# --- roles ------------------------------------------------------------------------------------------------


def test_queue_runs_the_queue_entrypoint_and_the_api_the_default(full: Any) -> None:
    rec, rendered = full
    assert container(rec, "queue")["command"] == ["/storage/queue_entrypoint.sh"]
    assert "command" not in container(rec, "api")
    assert "args" not in container(rec, "api")
    assert rendered["api"].plain["N_JOBS_PER_WORKER"] == "0"
    assert rendered["queue"].plain["N_JOBS_PER_WORKER"] == "5"
    for role in ROLES:
        data = rec.one(CONFIG_MAP, f"srv-{role}-env").inputs["data"]
        assert data["N_JOBS_PER_WORKER"] == rendered[role].plain["N_JOBS_PER_WORKER"]
        assert container(rec, role)["image"] == "registry.example.com/agents:1.2.3"


@pytest.mark.parametrize(("replicas", "ceiling", "expected"), [(1, None, 1), (2, 5, 2), (3, 40, 10), (100, None, 25)])
def test_max_surge_is_the_budgeted_surge(replicas: int, ceiling: int | None, expected: int) -> None:
    """A quarter of the ceiling rounded up, at least one: what the connection budget counts as surge pods."""
    scale = ScaleConfig(replicas=replicas, max_replicas=ceiling)
    assert sizing.surge(scale.ceiling) == expected
    rec, _ = run(server_config(api=scale, queue=QueueScaleConfig(replicas=replicas, max_replicas=ceiling)))
    for role in ROLES:
        strategy = rec.one(DEPLOYMENT, f"srv-{role}").inputs["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": expected, "maxUnavailable": 0}}


def test_resources_and_security_context() -> None:
    server = server_config(
        api=ScaleConfig(cpu="500m", memory="1Gi"),
        queue=QueueScaleConfig(cpu="2", memory="4Gi", cpu_limit="4", memory_limit="6Gi"),
    )
    rec, _ = run(server)
    assert container(rec, "api")["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                  "limits": {"memory": "1Gi"}}
    assert container(rec, "queue")["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                                    "limits": {"cpu": "4", "memory": "6Gi"}}
    for role in ROLES:
        pod = pod_spec(rec, role)
        assert pod["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        spec = container(rec, role)
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert spec["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        keys = {(item["topologyKey"], item["maxSkew"], item["whenUnsatisfiable"])
                for item in pod["topologySpreadConstraints"]}
        assert keys == {("topology.kubernetes.io/zone", 1, "ScheduleAnyway"),
                        ("kubernetes.io/hostname", 1, "ScheduleAnyway")}
        selector = rec.one(DEPLOYMENT, f"srv-{role}").inputs["spec"]["selector"]["matchLabels"]
        for item in pod["topologySpreadConstraints"]:
            assert item["labelSelector"]["matchLabels"] == selector


def test_labels_and_selectors() -> None:
    rec, _ = run(server_config(), labels={"team": "agents"})
    for role in ROLES:
        deployment = rec.one(DEPLOYMENT, f"srv-{role}").inputs
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector == {"app.kubernetes.io/name": "agent-server", "app.kubernetes.io/instance": "srv",
                            "app.kubernetes.io/component": role}
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template_labels.items()
        assert template_labels["team"] == "agents"
    for resource in kubernetes_resources(rec):
        assert resource.inputs["metadata"]["labels"]["team"] == "agents"
        assert resource.parent == rec.one("agent-server-infra:index:Workload").urn


# --- service, autoscaling, disruption budget, ingress --------------------------------------------------------


def test_api_service_is_cluster_ip() -> None:
    rec, _ = run(server_config())
    service = rec.one(SERVICE)
    assert service.name == "srv-api"
    spec = service.inputs["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP",
                              "appProtocol": "http"}]
    assert spec["selector"] == rec.one(DEPLOYMENT, "srv-api").inputs["spec"]["selector"]["matchLabels"]


def test_autoscalers_bound_each_role() -> None:
    server = server_config(api=ScaleConfig(replicas=2, max_replicas=6, target_cpu_percent=60),
                           queue=QueueScaleConfig(replicas=3, max_replicas=10))
    rec, _ = run(server)
    for role, low, high, cpu in (("api", 2, 6, 60), ("queue", 3, 10, 70)):
        spec = rec.one(HPA, f"srv-{role}").inputs["spec"]
        assert spec["minReplicas"] == low >= 1
        assert spec["maxReplicas"] == high
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"srv-{role}"}
        assert spec["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]
        # the autoscaler owns the replica count; re-applying one would reset it on every update
        assert "replicas" not in rec.one(DEPLOYMENT, f"srv-{role}").inputs["spec"]


def test_fixed_replicas_have_no_autoscaler() -> None:
    rec, _ = run(server_config(api=ScaleConfig(replicas=3), queue=QueueScaleConfig(replicas=2, max_replicas=2)))
    assert rec.by_type(HPA) == []
    assert rec.one(DEPLOYMENT, "srv-api").inputs["spec"]["replicas"] == 3
    assert rec.one(DEPLOYMENT, "srv-queue").inputs["spec"]["replicas"] == 2


def test_disruption_budgets() -> None:
    rec, _ = run(server_config())
    for role in ROLES:
        spec = rec.one(PDB, f"srv-{role}").inputs["spec"]
        assert spec["maxUnavailable"] == 1
        assert spec["selector"] == rec.one(DEPLOYMENT, f"srv-{role}").inputs["spec"]["selector"]


@pytest.mark.parametrize(("prefix", "path"), [("/agents", "/agents"), (None, "/")])
def test_ingress_path_follows_the_mount_prefix(prefix: str | None, path: str) -> None:
    ingress = IngressConfig(host="agents.example.com", class_name="nginx", tls_secret_name="agents-tls")
    rec, _ = run(server_config(mount_prefix=prefix, ingress=ingress))
    spec = rec.one(INGRESS).inputs["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["agents.example.com"], "secretName": "agents-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "agents.example.com"
    assert rule["http"]["paths"] == [{"path": path, "pathType": "Prefix", "backend": {
        "service": {"name": "srv-api", "port": {"number": 8000}}}}]
    assert rec.one(SERVICE).urn in rec.one(INGRESS).dependencies


def test_no_ingress_and_no_tls_unless_asked() -> None:
    rec, _ = run(server_config())
    assert rec.by_type(INGRESS) == []
    rec, _ = run(server_config(ingress=IngressConfig(host="agents.example.com")))
    spec = rec.one(INGRESS).inputs["spec"]
    assert "tls" not in spec
    assert "ingressClassName" not in spec


# --- service account and namespace ----------------------------------------------------------------------------


def test_service_account_carries_the_irsa_role() -> None:
    rec, _ = run(server_config(service_account_role_arn=ROLE_ARN))
    account = rec.one(SERVICE_ACCOUNT)
    assert account.inputs["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}
    assert account.inputs["automountServiceAccountToken"] is False
    for role in ROLES:
        assert pod_spec(rec, role)["serviceAccountName"] == account.outputs["metadata"]["name"]
        assert account.urn in rec.one(DEPLOYMENT, f"srv-{role}").dependencies


def test_service_account_without_a_role_has_no_annotation() -> None:
    rec, _ = run(server_config())
    assert "annotations" not in rec.one(SERVICE_ACCOUNT).inputs["metadata"]


def test_objects_live_in_the_created_namespace() -> None:
    rec, _ = run(server_config(namespace="agents"))
    namespace = rec.one(NAMESPACE)
    assert namespace.inputs["metadata"]["name"] == "agents"
    for resource in kubernetes_resources(rec):
        if resource.type == NAMESPACE:
            continue
        assert resource.inputs["metadata"]["namespace"] == "agents"
        assert namespace.urn in resource.dependencies
    assert rec.outputs["namespace"] == "agents"
    assert rec.outputs["url"] == "http://srv-api.agents.svc.cluster.local:8000"


def test_existing_namespace_is_not_created() -> None:
    rec, _ = run(server_config(namespace="shared", create_namespace=False, mount_prefix="/agents"))
    assert rec.by_type(NAMESPACE) == []
    assert {r.inputs["metadata"]["namespace"] for r in kubernetes_resources(rec)} == {"shared"}
    assert rec.outputs == {
        "namespace": "shared",
        "service_name": "srv-api",
        "url": "http://srv-api.shared.svc.cluster.local:8000/agents",
        "deployment_names": {"api": "srv-api", "queue": "srv-queue"},
    }


# --- argument checks ----------------------------------------------------------------------------------------


def test_bad_arguments_are_rejected() -> None:
    rendered = render(server_config())
    plain = {role: rendered[role].plain for role in ROLES}

    def build(name: str, server: ServerConfig, env_map: Mapping[str, Mapping[str, str]]) -> None:
        Workload(name, {"server": cast(ServerSettings, server.model_dump(exclude_unset=True)), "env": env_map,
                        "secret_env": {}})

    with pytest.raises(ValueError, match="image"):
        engine.run(lambda: build("srv", server_config(image=None), plain))
    with pytest.raises(ValueError, match="queue"):
        engine.run(lambda: build("srv", server_config(), {"api": plain["api"]}))


# --- schema validation ----------------------------------------------------------------------------------------


def test_validator_targets_a_current_kubernetes() -> None:
    major, minor = (int(part) for part in k8s_validate.K8S_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 33)
    assert k8s_validate.api_version_and_kind(DEPLOYMENT) == ("apps/v1", "Deployment")
    assert k8s_validate.api_version_and_kind(SECRET) == ("v1", "Secret")
    assert k8s_validate.api_version_and_kind(INGRESS) == ("networking.k8s.io/v1", "Ingress")


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def policies(rec: engine.Recording) -> dict[str, dict[str, Any]]:
    return {r.name.removeprefix("srv-"): r.plain_inputs["spec"] for r in rec.by_type(NETWORK_POLICY)}


def test_network_policies_deny_everything_but_what_the_server_needs() -> None:
    rec, _ = run(server_config())
    specs = policies(rec)
    assert set(specs) == {"default-deny", "api-ingress", "queue-ingress", "egress"}
    instance = {"app.kubernetes.io/name": "agent-server", "app.kubernetes.io/instance": "srv"}
    deny = specs["default-deny"]
    assert deny == {"podSelector": {"matchLabels": instance}, "policyTypes": ["Ingress", "Egress"]}
    api = specs["api-ingress"]
    assert api["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    rule = api["ingress"][0]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert {"podSelector": {"matchLabels": {}}} in rule["from"], "every pod of the server's own namespace"
    namespaces = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                  for peer in rule["from"] if "namespaceSelector" in peer}
    assert namespaces == {"ingress-nginx", "kube-system"}
    assert specs["queue-ingress"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {}}}],
                                                  "ports": [{"port": 8000, "protocol": "TCP"}]}]
    dns, stores, https = specs["egress"]["egress"]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                          "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert {(port["port"], port["protocol"]) for port in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert "to" not in stores, "no storeCidrs: any address, on the stores' ports only"
    assert stores["ports"] == [{"port": 5432, "protocol": "TCP"}, {"port": 6379, "protocol": "TCP"}]
    assert https == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]}
    for resource in rec.by_type(NETWORK_POLICY):
        k8s_validate.validate(resource)


def test_network_policy_settings_narrow_it_or_switch_it_off() -> None:
    rec, _ = run(server_config(network_policy={
        "ingress_namespaces": ["ingress"], "ingress_cidrs": ["10.40.0.0/16"], "store_cidrs": ["10.40.8.0/21"],
        "https_cidrs": ["192.0.2.0/24"]}))
    specs = policies(rec)
    assert {"ipBlock": {"cidr": "10.40.0.0/16"}} in specs["api-ingress"]["ingress"][0]["from"]
    _, stores, https = specs["egress"]["egress"]
    assert stores["to"] == [{"ipBlock": {"cidr": "10.40.8.0/21"}}]
    assert https["to"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    off, _ = run(server_config(network_policy={"enabled": False}))
    assert not off.by_type(NETWORK_POLICY)


def test_every_object_passes_kubernetes_validate(full: Any) -> None:
    rec, _ = full
    resources = kubernetes_resources(rec)
    kinds = {resource.type for resource in resources}
    assert kinds == {DEPLOYMENT, CONFIG_MAP, SECRET, SERVICE, SERVICE_ACCOUNT, NAMESPACE, HPA, PDB, INGRESS,
                     NETWORK_POLICY}
    for resource in resources:
        k8s_validate.validate(resource)


def test_minimal_objects_pass_kubernetes_validate() -> None:
    rec, _ = run(server_config(create_namespace=False))
    for resource in kubernetes_resources(rec):
        k8s_validate.validate(resource)


def test_secret_values_are_masked_in_manifests(full: Any) -> None:
    rec, rendered = full
    data = k8s_validate.manifest(rec.one(SECRET))["stringData"]
    assert set(data) == set(rendered["queue"].secret)
    assert set(data.values()) == {MASK}


def test_validator_rejects_a_broken_manifest() -> None:
    rec, _ = run(server_config())
    good = k8s_validate.manifest(rec.one(DEPLOYMENT, "srv-queue"))
    k8s_validate.validate_manifest(good)
    unknown_field = json.loads(json.dumps(good))
    unknown_field["spec"]["template"]["spec"]["containers"][0]["comand"] = ["/storage/queue_entrypoint.sh"]
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_validate.validate_manifest(unknown_field)
    wrong_type = json.loads(json.dumps(good))
    wrong_type["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "210"
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_validate.validate_manifest(wrong_type)
