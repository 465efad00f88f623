"""The conformance table: what the real AWS API, terraform-provider-aws, Kubernetes and the Agent Server accept.

Each :class:`Rule` names the resource type and property it reads, what it says and where that comes from; the
rule text and source of names, free text, windows, storage and engine versions live in the package
(:mod:`agent_server_infra.naming`, :mod:`agent_server_infra.provider_rules`), where the components and config
validation use them too, so the tier checks the emitted arguments against the same statement of the API, not
against a second copy. Rules that relate several resources (refresh and drift safety, probe port = ``PORT``, the
rollout order) read the whole recording; :func:`unique_names` relates several recordings (stacks in one account).

A mock engine accepts anything, so every check here reads what a recorded resource would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent_server_infra import naming, pod_security, provider_rules
from agent_server_infra.naming import NameRule
from agent_server_infra.plan.engine import RecordedResource, Recording, reveal
from agent_server_infra.provider_rules import TextRule
from agent_server_infra.versions import parse_version
from tests.components import k8s_validate

RDS = "aws:rds/instance:Instance"
RDS_SUBNETS = "aws:rds/subnetGroup:SubnetGroup"
RDS_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
CACHE_PARAMS = "aws:elasticache/parameterGroup:ParameterGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"
RANDOM_ID = "random:index/randomId:RandomId"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SECRET = "kubernetes:core/v1:Secret"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
TRIGGER_AUTHENTICATION = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
KUBERNETES = "kubernetes:*"
ANY = "*"

QUEUE_ENTRYPOINT = (
    "langgraph-api 0.11.1 langgraph_api/queue_entrypoint.py health_and_metrics_server: "
    "port = int(os.getenv('PORT', '8080')); check_db = int(request.query_params.get('check_db', '1'))"
)
ALB_DOCS = "kubernetes-sigs/aws-load-balancer-controller docs/guide/ingress/annotations.md"
ELASTICACHE_FAMILIES = frozenset({"redis6.x", "redis7", "valkey7", "valkey8", "valkey9"})


@dataclass(frozen=True)
class Rule:
    """One rule of a real API, checked on every resource of its type (``kubernetes:*``, ``*``: any)."""

    type: str
    property: str
    rule: str
    source: str
    check: Callable[[Recording, RecordedResource], Iterable[str]]

    def applies(self, resource: RecordedResource) -> bool:
        if self.type == ANY:
            return resource.custom
        if self.type.endswith(":*"):
            return resource.type.startswith(self.type[:-1])
        return resource.type == self.type


# --- reading recorded resources ------------------------------------------------------------------------------


def value(resource: RecordedResource, path: str) -> Any:
    """``spec.template.metadata`` of the inputs, or of the mocks' state when the program left it unset (an
    auto-name); secrets shown."""
    for source in (resource.plain_inputs, _plain_state(resource)):
        found: Any = source
        for part in path.split("."):
            found = found.get(part) if isinstance(found, Mapping) else None
        if found is not None:
            return found
    return None


def _plain_state(resource: RecordedResource) -> dict[str, Any]:
    return reveal(resource.wire_outputs)


def _value_rule(type_: str, prop: str, rule: NameRule | TextRule, text: str) -> Rule:
    """``rule.problems`` of the value at ``prop`` (a name or a free-text field)."""

    def check(_: Recording, resource: RecordedResource) -> Iterator[str]:
        found = value(resource, prop)
        if found is not None:
            yield from (f"{prop} {found!r} {problem}" for problem in rule.problems(str(found)))

    return Rule(type_, prop, f"{rule.what}: {text}", rule.source, check)


def _name_rule(type_: str, prop: str, rule: NameRule) -> Rule:
    return _value_rule(type_, prop, rule, f"{rule.max_length} characters at most, {rule.pattern}")


def _text_rule(type_: str, prop: str, rule: TextRule) -> Rule:
    return _value_rule(type_, prop, rule, f"{rule.min_length}-{rule.max_length} of {rule.charset}")


def _generated_secret(type_: str, prop: str, rule: TextRule) -> Rule:
    """The generator of a secret only draws characters the API accepts (the value itself is random)."""

    def check(recording: Recording, resource: RecordedResource) -> Iterator[str]:
        for password in _password_of(recording, resource, prop):
            specials = str(password.plain_inputs.get("overrideSpecial", "")) \
                if password.plain_inputs.get("special", True) else ""
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + specials
            bad = [char for char in alphabet if rule.problems(char * max(rule.min_length, 1))]
            if bad:
                yield f"{prop} comes from {password.name}, which may draw {''.join(bad)!r}"
            length = int(password.plain_inputs.get("length", 0))
            if not rule.min_length <= length <= rule.max_length:
                yield f"{prop} comes from {password.name} of length {length}"
        secret = value(resource, prop)
        if secret is not None:
            yield from (f"{prop} {problem}" for problem in rule.problems(str(secret)))

    return Rule(type_, prop, f"{rule.what}: generated from accepted characters only ({rule.charset})",
                rule.source, check)


def _password_of(recording: Recording, resource: RecordedResource, prop: str) -> list[RecordedResource]:
    secret = value(resource, prop)
    return [other for other in recording.by_type(PASSWORD)
            if other.urn in resource.dependencies and value(other, "result") == secret]


# --- per-resource rules ------------------------------------------------------------------------------------------


def _rds_engine(_: Recording, resource: RecordedResource) -> Iterator[str]:
    version = str(value(resource, "engineVersion"))
    if not re.fullmatch(r"\d+(\.\d+)?", version):
        yield f"engineVersion {version!r} is neither a major nor major.minor"
        return
    if parse_version(version)[0] not in provider_rules.POSTGRES_MAJORS:
        yield f"engineVersion {version!r}: RDS creates Postgres {provider_rules.POSTGRES_MAJORS}"
    if not provider_rules.postgres_creatable(version):
        yield f"engineVersion {version!r} is no longer created by RDS"
    if value(resource, "autoMinorVersionUpgrade") is not False and "." in version:
        yield (f"engineVersion {version!r} pins a minor while autoMinorVersionUpgrade is on: after RDS upgrades "
               "the minor, the next deploy tries to downgrade and fails")


def _rds_storage(_: Recording, resource: RecordedResource) -> Iterator[str]:
    allocated = int(value(resource, "allocatedStorage"))
    storage_type = value(resource, "storageType") or "gp2"
    low = 100 if storage_type in {"io1", "io2"} else 20
    if not low <= allocated <= 65536:
        yield f"allocatedStorage {allocated} outside {low}-65536 GiB for {storage_type}"
    ceiling = value(resource, "maxAllocatedStorage")
    if ceiling not in (None, 0) and int(ceiling) < provider_rules.minimum_storage_ceiling(allocated):
        yield f"maxAllocatedStorage {ceiling} is not 10 % above allocatedStorage {allocated}"


def _windows(rules: provider_rules.WindowRules) -> Callable[[Recording, RecordedResource], Iterator[str]]:
    def check(_: Recording, resource: RecordedResource) -> Iterator[str]:
        daily, weekly = value(resource, rules.daily_field), value(resource, "maintenanceWindow")
        if daily is None or weekly is None:
            yield f"{rules.daily_field} and maintenanceWindow must be set (AWS picks overlapping ones otherwise)"
            return
        if provider_rules.daily_minutes(daily) < rules.daily_minimum:
            yield f"{rules.daily_field} {daily!r} shorter than {rules.daily_minimum} minutes"
        if provider_rules.weekly_minutes(weekly) < rules.weekly_minimum:
            yield f"maintenanceWindow {weekly!r} shorter than {rules.weekly_minimum} minutes"
        if provider_rules.windows_overlap(daily, weekly):
            yield f"{rules.daily_field} {daily!r} overlaps maintenanceWindow {weekly!r}"

    return check


def _depends_on(recording: Recording, resource: RecordedResource, type_: str) -> list[RecordedResource]:
    return [other for other in recording.by_type(type_) if other.urn in resource.dependencies]


def _rds_parameter_family(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    family = provider_rules.postgres_parameter_group_family(str(value(resource, "engineVersion")))
    for group in _depends_on(recording, resource, RDS_PARAMS):
        if value(group, "family") != family:
            yield f"parameter group family {value(group, 'family')!r} does not match engine {family!r}"


def _snapshot_unique(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    snapshot = str(value(resource, "finalSnapshotIdentifier") or "")
    suffixes = [str(value(random_id, "hex")) for random_id in _depends_on(recording, resource, RANDOM_ID)]
    if not any(suffix and snapshot.endswith(suffix) for suffix in suffixes):
        yield (f"finalSnapshotIdentifier {snapshot!r} is fixed: the second deletion of this store (a replacement, "
               "or the stack destroyed and deployed again) fails with SnapshotAlreadyExists")


MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)


def _rds_monitoring(_: Recording, resource: RecordedResource) -> Iterator[str]:
    interval = int(value(resource, "monitoringInterval") or 0)
    if interval not in MONITORING_INTERVALS:
        yield f"monitoringInterval {interval} is not one of {MONITORING_INTERVALS}"
    if interval and not value(resource, "monitoringRoleArn"):
        yield "monitoringInterval above 0 needs monitoringRoleArn"


def _log_retention(_: Recording, resource: RecordedResource) -> Iterator[str]:
    days = value(resource, "retentionInDays")
    if days is not None and int(days) not in provider_rules.LOG_RETENTION_DAYS:
        yield f"retentionInDays {days} is not a retention CloudWatch Logs offers"


def _elasticache_engine(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    engine = str(value(resource, "engine") or "redis")
    version = str(value(resource, "engineVersion"))
    if version not in provider_rules.ELASTICACHE_VERSIONS.get(engine, ()):
        yield f"engineVersion {version!r} is not a {engine} version ElastiCache creates (major.minor)"
        return
    family = provider_rules.elasticache_parameter_group_family(engine, version)
    for group in _depends_on(recording, resource, CACHE_PARAMS):
        if value(group, "family") not in ELASTICACHE_FAMILIES or value(group, "family") != family:
            yield f"parameter group family {value(group, 'family')!r} is not {engine} {version}'s {family!r}"
    if value(resource, "transitEncryptionMode") is not None and not \
            provider_rules.supports_transit_encryption_mode(engine, version):
        yield f"transitEncryptionMode is not accepted by {engine} {version}"
    if value(resource, "authToken") is not None and value(resource, "transitEncryptionEnabled") is not True:
        yield "authToken needs transitEncryptionEnabled"
    for delivery in value(resource, "logDeliveryConfigurations") or []:
        if delivery.get("logType") == "slow-log" and engine == "redis" and parse_version(version) < (6, 0, 0):
            yield "slow-log delivery needs Redis 6.0 or later"


def _elasticache_shape(_: Recording, resource: RecordedResource) -> Iterator[str]:
    failover = value(resource, "automaticFailoverEnabled") is True
    if value(resource, "multiAzEnabled") is True and not failover:
        yield "multiAzEnabled needs automaticFailoverEnabled"
    clusters = value(resource, "numCacheClusters")
    if failover and clusters is not None and int(clusters) < 2:
        yield "automaticFailoverEnabled needs numCacheClusters ≥ 2"
    replicas = value(resource, "replicasPerNodeGroup")
    if replicas is not None and not 0 <= int(replicas) <= 5:
        yield f"replicasPerNodeGroup {replicas} outside 0-5"
    if not value(resource, "description"):
        yield "description must not be empty"


def _refresh_safe(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    group_id = value(resource, "id")
    for direction, rule_type in (("ingress", INGRESS_RULE), ("egress", EGRESS_RULE)):
        separate = [rule for rule in recording.by_type(rule_type) if value(rule, "securityGroupId") == group_id]
        if separate and direction in resource.plain_inputs:
            yield (f"{direction} is declared inline beside {len(separate)} separate rule resource(s): after a "
                   "refresh one mechanism revokes the other's rules")


def _env_of(recording: Recording, container: Mapping[str, Any], secret: bool = False) -> dict[str, str]:
    """The variables a container gets from its ConfigMaps (or, ``secret``, its Secrets)."""
    ref, type_, field = ("secretRef", SECRET, "stringData") if secret else ("configMapRef", CONFIG_MAP, "data")
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        name = (source.get(ref) or {}).get("name")
        for resource in recording.by_type(type_):
            if value(resource, "metadata.name") == name:
                env.update(value(resource, field) or {})
    return env


def _containers(resource: RecordedResource) -> list[dict[str, Any]]:
    return list(value(resource, "spec.template.spec.containers") or [])


def _probes(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {kind: container[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")
            if kind in container and "httpGet" in container[kind]}


def _probe_port(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    for container in _containers(resource):
        ports = {port.get("name"): port.get("containerPort") for port in container.get("ports") or []}
        port_env = _env_of(recording, container).get("PORT")
        for kind, probe in _probes(container).items():
            number = ports.get(probe["port"], probe["port"])
            number = int(number) if isinstance(number, float) else number  # numbers decode from the wire as floats
            if port_env is None:
                yield f"{container['name']}: {kind} probes {number} but PORT is not rendered (the queue binds 8080)"
            elif str(number) != port_env:
                yield f"{container['name']}: {kind} probes port {number}, the server listens on PORT={port_env}"


def _role(resource: RecordedResource) -> str | None:
    labels = value(resource, "metadata.labels") or {}
    return labels.get("app.kubernetes.io/component")


def _queue_probes(_: Recording, resource: RecordedResource) -> Iterator[str]:
    if _role(resource) != "queue":
        return
    for container in _containers(resource):
        for kind, probe in _probes(container).items():
            query = parse_qs(urlsplit(str(probe["path"])).query)
            if kind != "startupProbe" and query.get("check_db") != ["0"]:
                yield (f"{kind} {probe['path']!r} checks the database (the queue's default is check_db=1): a "
                       "database failover would kill or unready every queue pod")


def _rollout_order(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    if _role(resource) != "queue":
        return
    instance = (value(resource, "metadata.labels") or {}).get("app.kubernetes.io/instance")
    apis = [other for other in recording.by_type(DEPLOYMENT) if _role(other) == "api"
            and (value(other, "metadata.labels") or {}).get("app.kubernetes.io/instance") == instance]
    if apis and not any(api.urn in resource.dependencies for api in apis):
        yield ("the queue rolls out beside the API: on a fresh database both run the migrations at once and one "
               "crashes (UniqueViolation on alembic_version)")


def _pod_spec(resource: RecordedResource) -> dict[str, Any]:
    path = "spec.jobTemplate.spec.template.spec" if resource.type == CRONJOB else "spec.template.spec"
    return dict(value(resource, path) or {})


def _restricted(_: Recording, resource: RecordedResource) -> Iterator[str]:
    pod = _pod_spec(resource)
    pod_context = pod.get("securityContext") or {}
    for kind in ("initContainers", "containers"):
        for container in pod.get(kind) or []:
            context = container.get("securityContext") or {}
            where = f"{kind} {container.get('name')}"
            if context.get("allowPrivilegeEscalation") is not False:
                yield f"{where}: allowPrivilegeEscalation is not false"
            if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
                yield f"{where}: capabilities do not drop ALL"
            if not context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
                yield f"{where}: runAsNonRoot is not true (container or pod)"
            seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                yield f"{where}: seccompProfile {seccomp!r} is neither RuntimeDefault nor Localhost"
            if context.get("readOnlyRootFilesystem") is not True:
                yield f"{where}: the root filesystem is writable"


def _sysctls(_: Recording, resource: RecordedResource) -> Iterator[str]:
    for sysctl in (_pod_spec(resource).get("securityContext") or {}).get("sysctls") or []:
        name, setting = sysctl.get("name"), sysctl.get("value")
        if name not in pod_security.SAFE_SYSCTLS and name not in pod_security.UNSAFE_SYSCTLS_OPT_IN:
            yield f"{name}: neither a safe sysctl nor an unsafe one this library documents the kubelet allow-list for"
        if name == pod_security.TCP_RETRIES2 and not (
                isinstance(setting, str) and setting.isdigit()
                and pod_security.TCP_RETRIES2_MIN <= int(setting) <= pod_security.TCP_RETRIES2_DEFAULT):
            yield (f"{name}={setting!r}: must be {pod_security.TCP_RETRIES2_MIN}-{pod_security.TCP_RETRIES2_DEFAULT} "
                   "(RFC 1122's 100 s floor up to the kernel's default)")


def _alb(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    if value(resource, "spec.ingressClassName") != "alb":
        return
    annotations = value(resource, "metadata.annotations") or {}
    for rule in value(resource, "spec.rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            service_name = path["backend"]["service"]["name"]
            for service in recording.by_type(SERVICE):
                if value(service, "metadata.name") == service_name and \
                        value(service, "spec.type") in (None, "ClusterIP") and \
                        annotations.get("alb.ingress.kubernetes.io/target-type") != "ip":
                    yield (f"backend {service_name} is a ClusterIP Service, which the controller's default target "
                           "type (instance) cannot reach: target-type must be ip")
    if any(tls.get("secretName") for tls in value(resource, "spec.tls") or []):
        yield "spec.tls secretName is ignored by the AWS Load Balancer Controller (ACM certificates only)"
    health = annotations.get("alb.ingress.kubernetes.io/healthcheck-path", "/")
    prefix = str((value(resource, "spec.rules") or [{}])[0].get("http", {}).get("paths", [{}])[0].get("path", "/"))
    if not health.startswith(prefix.rstrip("/") + "/"):
        yield f"healthcheck-path {health!r} is outside the served path {prefix!r}"
    yield from _alb_reaches_the_pods(recording)


def _alb_reaches_the_pods(recording: Recording) -> Iterator[str]:
    """With IP targets the load balancer connects from its subnets' addresses: a NetworkPolicy that selects the
    API pods must admit an ipBlock, or the controller's health checks and all traffic are dropped."""
    policies = recording.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    ingress_rules = [rule for policy in policies for rule in value(policy, "spec.ingress") or []]
    if policies and not any(peer.get("ipBlock") for rule in ingress_rules for peer in rule.get("from") or []):
        yield "NetworkPolicies select the API pods but admit no ipBlock: IP-target traffic from the ALB is dropped"


def _label_values(_: Recording, resource: RecordedResource) -> Iterator[str]:
    for path in ("metadata.labels", "spec.template.metadata.labels", "spec.selector.matchLabels",
                 "spec.selector"):
        labels = value(resource, path)
        if isinstance(labels, Mapping):
            for key, label in labels.items():
                if isinstance(label, str):
                    yield from (f"{path}[{key}] {label!r} {problem}"
                                for problem in naming.K8S_LABEL_VALUE.problems(label))


KUBERNETES_NAMES: dict[str, NameRule] = {"Service": naming.K8S_DNS_LABEL, "Namespace": naming.K8S_DNS1123_LABEL,
                                         "CronJob": naming.K8S_CRONJOB}
"""Services are DNS-1035 labels, Namespaces DNS-1123 labels, CronJobs 52 characters, every other object a DNS-1123
subdomain."""


def _kubernetes_name(_: Recording, resource: RecordedResource) -> Iterator[str]:
    name = value(resource, "metadata.name")
    rule = KUBERNETES_NAMES.get(resource.type.split(":")[-1], naming.K8S_SUBDOMAIN)
    yield from (f"metadata.name {name!r} {problem}" for problem in rule.problems(str(name)))


ALARM_STATISTICS = frozenset({"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
ALARM_COMPARISONS = frozenset({"GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold",
                               "LessThanOrEqualToThreshold"})
"""The static comparisons (the three anomaly-band ones need an anomaly detection model)."""
ALARM_MISSING_DATA = frozenset({"missing", "ignore", "breaching", "notBreaching"})
ALARM_MAX_ACTIONS = 5


def _alarm(_: Recording, resource: RecordedResource) -> Iterator[str]:
    period, periods = int(value(resource, "period")), int(value(resource, "evaluationPeriods"))
    if period not in (10, 20, 30) and period % 60:
        yield f"period {period} is not 10, 20, 30 or a multiple of 60"
    if periods < 1 or period * periods > provider_rules.ALARM_MAX_EVALUATION_SECONDS:
        yield f"period × evaluationPeriods = {period * periods} s is outside 1 period … one day"
    if value(resource, "statistic") not in ALARM_STATISTICS:
        yield f"statistic {value(resource, 'statistic')!r} is not one CloudWatch computes"
    if value(resource, "comparisonOperator") not in ALARM_COMPARISONS:
        yield f"comparisonOperator {value(resource, 'comparisonOperator')!r} is not a static comparison"
    if value(resource, "treatMissingData") not in ALARM_MISSING_DATA:
        yield f"treatMissingData {value(resource, 'treatMissingData')!r} is not accepted"
    if len(str(value(resource, "alarmDescription") or "")) > provider_rules.ALARM_DESCRIPTION_MAX:
        yield "alarmDescription is longer than 1024 characters"
    for actions in ("alarmActions", "okActions"):
        listed = value(resource, actions) or []
        if len(listed) > ALARM_MAX_ACTIONS or not all(str(arn).startswith("arn:") for arn in listed):
            yield f"{actions} must be at most {ALARM_MAX_ACTIONS} ARNs (got {listed!r})"
    name = str(value(resource, "name") or "")
    if not 1 <= len(name) <= 255 or any(ord(char) < 32 for char in name):
        yield f"name {name!r} must be 1-255 characters without control characters"


def _alarm_target(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """The dimensions name an object the recording creates: the RDS instance, or a member cluster of a
    replication group (``<group>-NNN``; ``<group>-SSSS-NNN`` in cluster mode), which ElastiCache numbers from 1."""
    dimensions = value(resource, "dimensions") or {}
    if "DBInstanceIdentifier" in dimensions:
        identifiers = {value(db, "identifier") for db in recording.by_type(RDS)}
        if dimensions["DBInstanceIdentifier"] not in identifiers:
            yield f"DBInstanceIdentifier {dimensions['DBInstanceIdentifier']!r} is no instance of this stack"
    elif "CacheClusterId" in dimensions:
        members: set[str] = set()
        for group in recording.by_type(GROUP):
            group_id = value(group, "replicationGroupId")
            if value(group, "numNodeGroups") is not None:
                shards = range(1, int(value(group, "numNodeGroups")) + 1)
                nodes = range(1, int(value(group, "replicasPerNodeGroup")) + 2)
                members.update(f"{group_id}-{shard:04d}-{node:03d}" for shard in shards for node in nodes)
            else:
                members.update(f"{group_id}-{node:03d}" for node in range(1, int(value(group, "numCacheClusters")) + 1))
        if dimensions["CacheClusterId"] not in members:
            yield f"CacheClusterId {dimensions['CacheClusterId']!r} is no member cluster of this stack's groups"
    else:
        yield f"dimensions {dimensions!r} name neither an RDS instance nor a cache cluster"


def _keda_schema(_: Recording, resource: RecordedResource) -> Iterator[str]:
    try:
        k8s_validate.validate(resource)
    except Exception as exc:  # jsonschema.ValidationError: the message is the finding
        yield f"refused by KEDA's CRD schema: {str(exc).splitlines()[0]}"


def _scaled_object(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    spec = value(resource, "spec")
    target = spec["scaleTargetRef"]["name"]
    if not any(value(d, "metadata.name") == target for d in recording.by_type(DEPLOYMENT)):
        yield f"scaleTargetRef {target!r} is no Deployment of this stack"
    if any(value(hpa, "spec.scaleTargetRef.name") == target for hpa in recording.by_type(HPA)):
        yield f"an HPA of ours already scales {target!r}: KEDA's webhook refuses the ScaledObject"
    if int(spec.get("minReplicaCount", 0)) < 1:
        yield "minReplicaCount below 1: a queue scaled to zero loses its tasks"
    name = str(value(resource, "metadata.name"))
    yield from (f"metadata.name {name!r} (the HPA's scaledobject.keda.sh/name label) {problem}"
                for problem in naming.K8S_LABEL_VALUE.problems(name))
    hpa_name = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("name")
    if hpa_name is None and len(name) > 54:
        yield f"metadata.name {name!r}: KEDA 2.20 allows 54 characters with the default HPA name keda-hpa-<name>"
    yield from (f"HPA name {hpa_name!r} {problem}" for problem in naming.K8S_DNS_LABEL.problems(str(hpa_name or name)))


POSTGRESQL_SCALER_PARAMETERS = frozenset({"connection", "password", "host", "port", "userName", "dbName", "sslmode"})


def _trigger_authentication(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    secrets = {value(secret, "metadata.name"): secret for secret in recording.by_type(SECRET)}
    for reference in value(resource, "spec.secretTargetRef") or []:
        if reference["parameter"] not in POSTGRESQL_SCALER_PARAMETERS:
            yield f"parameter {reference['parameter']!r} is none the postgresql scaler reads"
        secret = secrets.get(reference["name"])
        if secret is None:
            yield f"secretTargetRef names {reference['name']!r}, no Secret of this stack"
        elif reference["key"] not in (value(secret, "stringData") or {}):
            yield f"secretTargetRef key {reference['key']!r} is not in the Secret"


ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")


def _rds_connect(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """The inline policy grants rds-db:connect on an instance of this stack that has IAM authentication on, as the
    user the server's URI names (Amazon RDS User Guide, IAM database access policy)."""
    name = str(value(resource, "name"))
    if not POLICY_NAME.fullmatch(name):
        yield f"name {name!r} is not 1-128 letters, digits or +=,.@_-"
    statements = json.loads(value(resource, "policy"))["Statement"]
    instances = {f"{db.outputs['arn']}": db for db in recording.by_type(RDS)}
    for statement in statements:
        if statement["Action"] != "rds-db:connect":
            continue
        match = re.fullmatch(r"arn:([a-z-]+):rds-db:([a-z0-9-]+):(\d{12}):dbuser:(db-[A-Za-z0-9]+)/(.+)",
                             statement["Resource"])
        if match is None:
            yield f"resource {statement['Resource']!r} is not arn:<partition>:rds-db:<region>:<account>:dbuser:" \
                  "<DbiResourceId>/<user>"
            continue
        partition, region, account, resource_id, user = match.groups()
        db = next((db for arn, db in instances.items()
                   if arn == f"arn:{partition}:rds:{region}:{account}:db:{value(db, 'identifier')}"
                   and db.outputs.get("resourceId") == resource_id), None)
        if db is None:
            yield f"no instance of this stack has the resource id {resource_id}"
        elif not value(db, "iamDatabaseAuthenticationEnabled"):
            yield f"instance {value(db, 'identifier')} has IAM authentication off"
        users = {urlsplit(_env_of(recording, container, secret=True).get("DATABASE_URI", "")).username
                 for deployment in recording.by_type(DEPLOYMENT) for container in _containers(deployment)}
        if users and users != {user}:
            yield f"grants {user!r} but the server logs in as {sorted(u or '' for u in users)}"


def _iam_login(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """A passwordless server URI only with the provider variable (server ≥ 0.12 mints the token), a bootstrap Job
    both roles wait for, and a connect policy."""
    if not value(resource, "iamDatabaseAuthenticationEnabled"):
        return
    if not recording.by_type(ROLE_POLICY):
        yield "IAM authentication without an rds-db:connect policy: the server cannot get a token accepted"
    jobs = {job.urn for job in recording.by_type(JOB)}
    for deployment in recording.by_type(DEPLOYMENT):
        for container in _containers(deployment):
            uri = urlsplit(_env_of(recording, container, secret=True).get("DATABASE_URI", ""))
            if uri.password:
                yield f"{deployment.name}: the URI still carries a password"
            if _env_of(recording, container).get("AGENT_POSTGRES_IAM_AUTH_PROVIDER") != "aws":
                yield f"{deployment.name}: AGENT_POSTGRES_IAM_AUTH_PROVIDER is not aws"
        waits = set(deployment.dependencies) | {dep for other in recording.by_type(DEPLOYMENT)
                                                if other.urn in deployment.dependencies for dep in other.dependencies}
        if not jobs & waits:
            yield f"{deployment.name} does not wait for the bootstrap Job"


KEDA_SOURCE = ("kedacore/keda v2.20.2 config/crd/bases/keda.sh_scaledobjects.yaml and "
               "keda.sh_triggerauthentications.yaml (tests/data/keda); apis/keda/v1alpha1/scaledobject_webhook.go "
               "verifyHpas ('the workload ... is already managed by the hpa')")


RULES: tuple[Rule, ...] = (
    # names
    _name_rule(RDS, "identifier", naming.RDS_INSTANCE),
    _name_rule(RDS, "finalSnapshotIdentifier", naming.RDS_SNAPSHOT),
    _name_rule(RDS_SUBNETS, "name", naming.RDS_SUBNET_GROUP),
    _name_rule(RDS_PARAMS, "name", naming.RDS_PARAMETER_GROUP),
    _name_rule(GROUP, "replicationGroupId", naming.ELASTICACHE_GROUP),
    _name_rule(GROUP, "finalSnapshotIdentifier", naming.ELASTICACHE_SNAPSHOT),
    _name_rule(CACHE_SUBNETS, "name", naming.ELASTICACHE_SUBNET_GROUP),
    _name_rule(CACHE_PARAMS, "name", naming.ELASTICACHE_PARAMETER_GROUP),
    _name_rule(SG, "name", naming.SECURITY_GROUP),
    _name_rule(LOG_GROUP, "name", naming.LOG_GROUP),
    _name_rule("aws:iam/role:Role", "name", naming.IAM_ROLE),
    Rule(KUBERNETES, "metadata.name", "Services: DNS-1035 label; Namespaces: DNS-1123 label; others: DNS-1123 "
         "subdomain", naming.K8S_SUBDOMAIN.source, _kubernetes_name),
    Rule(KUBERNETES, "metadata.labels / selectors", "label values: 63 characters, [A-Za-z0-9] at both ends",
         naming.K8S_LABEL_VALUE.source, _label_values),
    # free text and secrets
    _text_rule(SG, "description", provider_rules.SECURITY_GROUP_DESCRIPTION),
    _text_rule(INGRESS_RULE, "description", provider_rules.SECURITY_GROUP_RULE_DESCRIPTION),
    _generated_secret(GROUP, "authToken", provider_rules.ELASTICACHE_AUTH_TOKEN),
    _generated_secret(RDS, "password", provider_rules.RDS_MASTER_PASSWORD),
    # RDS
    Rule(RDS, "engineVersion", "a Postgres major RDS creates, or a creatable minor; a major only while "
         "autoMinorVersionUpgrade is on (drift safety)", provider_rules.POSTGRES_VERSION_SOURCE + "; "
         + provider_rules.POSTGRES_CREATABLE_SOURCE, _rds_engine),
    Rule(RDS, "allocatedStorage / maxAllocatedStorage", "20-65536 GiB (100 for io1/io2); the ceiling ≥ 110 %",
         provider_rules.STORAGE_CEILING_SOURCE, _rds_storage),
    Rule(RDS, "backupWindow / maintenanceWindow", "≥ 30 minutes each, never overlapping",
         provider_rules.RDS_WINDOWS.source, _windows(provider_rules.RDS_WINDOWS)),
    Rule(RDS, "monitoringInterval / monitoringRoleArn", "0, 1, 5, 10, 15, 30 or 60; above 0 with a role",
         "AWS RDS API reference, CreateDBInstance MonitoringInterval (valid values 0, 1, 5, 10, 15, 30, 60; "
         "MonitoringRoleArn is required when it is above 0)", _rds_monitoring),
    Rule(LOG_GROUP, "retentionInDays", "a retention CloudWatch Logs offers", provider_rules.LOG_RETENTION_SOURCE,
         _log_retention),
    Rule(RDS, "parameterGroupName", "the parameter group's family is postgres<major>",
         "AWS RDS API reference, CreateDBInstance DBParameterGroupName (the group's family must match the engine)",
         _rds_parameter_family),
    Rule(RDS, "finalSnapshotIdentifier", "unique per deletion (a random suffix kept until replacement)",
         "AWS RDS API reference, DeleteDBInstance: DBSnapshotAlreadyExists when the identifier is taken",
         _snapshot_unique),
    # ElastiCache
    Rule(GROUP, "engineVersion / transitEncryptionMode / parameter group family", "a major.minor ElastiCache "
         "creates; the family of that version; the mode only from Redis 7.0.5 / Valkey 7.2",
         provider_rules.ELASTICACHE_VERSION_SOURCE + "; " + provider_rules.TRANSIT_ENCRYPTION_MODE_SOURCE,
         _elasticache_engine),
    Rule(GROUP, "snapshotWindow / maintenanceWindow", "≥ 60 minutes each, never overlapping",
         provider_rules.ELASTICACHE_WINDOWS.source, _windows(provider_rules.ELASTICACHE_WINDOWS)),
    Rule(GROUP, "automaticFailoverEnabled / multiAzEnabled / replicasPerNodeGroup / description",
         "multi-AZ needs failover, failover needs 2 nodes, 0-5 replicas per shard, a description",
         "AWS ElastiCache API reference, CreateReplicationGroup; terraform-provider-aws "
         "internal/service/elasticache/replication_group.go (CustomizeDiff and validators)", _elasticache_shape),
    Rule(GROUP, "finalSnapshotIdentifier", "unique per deletion (a random suffix kept until replacement)",
         "AWS ElastiCache API reference, DeleteReplicationGroup: SnapshotAlreadyExistsFault", _snapshot_unique),
    # security groups
    Rule(SG, "ingress / egress", "one mechanism per direction: no inline rules beside rule resources",
         "pulumi/pulumi-aws#2391; pulumi_aws ec2/security_group.py ('You should not use the ec2.SecurityGroup "
         "resource with in-line rules ... in conjunction with the vpc.SecurityGroupIngressRule ...')",
         _refresh_safe),
    # Kubernetes workload and the Agent Server
    Rule(DEPLOYMENT, "containers[].*Probe.httpGet.port", "the probed port is the PORT the server binds",
         QUEUE_ENTRYPOINT, _probe_port),
    Rule(DEPLOYMENT, "containers[].livenessProbe / readinessProbe (queue)", "check_db=0 outside the startup probe",
         QUEUE_ENTRYPOINT, _queue_probes),
    Rule(DEPLOYMENT, "dependencies (queue)", "the queue rolls out after the API (migrations never race)",
         "langgraph-api 0.11.1: both roles run the migrations in their lifespan (langgraph_runtime_pg "
         "lifespan → migrate); started at once on a fresh database one fails with UniqueViolation",
         _rollout_order),
    Rule(DEPLOYMENT, "spec.template.spec.initContainers[] / containers[].securityContext", "the Restricted pod "
         "security profile for every container, init containers included; read-only root filesystems",
         pod_security.RESTRICTED_SOURCE + "; " + pod_security.READ_ONLY_ROOT, _restricted),
    Rule(JOB, "spec.template.spec.initContainers[] / containers[].securityContext", "the Restricted pod "
         "security profile for every container; read-only root filesystems",
         pod_security.RESTRICTED_SOURCE + "; " + pod_security.READ_ONLY_ROOT, _restricted),
    Rule(CRONJOB, "spec.jobTemplate.spec.template.spec.containers[].securityContext", "the Restricted pod "
         "security profile for every container; read-only root filesystems",
         pod_security.RESTRICTED_SOURCE + "; " + pod_security.READ_ONLY_ROOT, _restricted),
    Rule(DEPLOYMENT, "spec.template.spec.securityContext.sysctls", "the kubelet's safe sysctls, or "
         "net.ipv4.tcp_retries2 (opt-in, 8-15) whose kubelet allow-list the docs name",
         pod_security.SAFE_SYSCTLS_SOURCE + "; " + pod_security.TCP_RETRIES2_SOURCE, _sysctls),
    Rule(INGRESS, "metadata.annotations (alb)", "ip targets for a ClusterIP backend, no TLS secrets, the health "
         "check under the served path", ALB_DOCS, _alb),
    # the queue's backlog autoscaler (KEDA)
    Rule(SCALED_OBJECT, "spec / metadata", "KEDA's CRD schema (string trigger metadata, bounded counts)", KEDA_SOURCE,
         _keda_schema),
    Rule(TRIGGER_AUTHENTICATION, "spec", "KEDA's CRD schema", KEDA_SOURCE, _keda_schema),
    Rule(SCALED_OBJECT, "scaleTargetRef / minReplicaCount / names", "targets our queue Deployment, which no other "
         "HPA scales; never below 1 replica; the HPA's name and label valid", KEDA_SOURCE + "; the server's docs "
         "(scale-to-zero loses tasks)", _scaled_object),
    Rule(TRIGGER_AUTHENTICATION, "spec.secretTargetRef", "a parameter the postgresql scaler reads, from a key of "
         "the server's Secret", "kedacore/keda pkg/scalers/postgresql_scaler.go (connection, password, host, port, "
         "userName, dbName, sslmode)", _trigger_authentication),
    # IAM database authentication
    Rule(ROLE_POLICY, "name / policy", "rds-db:connect on an IAM-enabled instance of this stack, as the server's "
         "user", "AWS IAM API reference, PutRolePolicy PolicyName; Amazon RDS User Guide, 'Creating and using an "
         "IAM policy for IAM database access'", _rds_connect),
    Rule(RDS, "iamDatabaseAuthenticationEnabled", "a passwordless URI, AGENT_POSTGRES_IAM_AUTH_PROVIDER=aws, a "
         "connect policy and the bootstrap Job before both roles", "docs.langchain.com/langsmith/configure-iam-auth "
         "(langgraph-api ≥ 0.12.0: URI without password, sslmode=require, the provider variable on API and queue)",
         _iam_login),
    # alarms
    Rule(ALARM, "period / evaluationPeriods / statistic / comparisonOperator / treatMissingData / actions / name",
         "what PutMetricAlarm accepts", provider_rules.ALARM_SOURCE, _alarm),
    Rule(ALARM, "dimensions", "the RDS instance or a member cluster of a replication group of this stack",
         "Amazon ElastiCache User Guide (member clusters <group>-001, <group>-0001-001; metrics by CacheClusterId); "
         "Amazon RDS User Guide (metrics by DBInstanceIdentifier)", _alarm_target),
)


def violations(recording: Recording) -> list[str]:
    """Every rule a recording breaks, as ``type name: rule: problem``."""
    return [f"{resource.type} {resource.name}: {problem}"
            for resource in recording.resources for rule in RULES if rule.applies(resource)
            for problem in rule.check(recording, resource)]


ACCOUNT_SCOPED: tuple[tuple[str, str], ...] = (
    (RDS, "identifier"),
    ("aws:iam/role:Role", "name"),
    (GROUP, "replicationGroupId"),
    (LOG_GROUP, "name"),
)
"""Explicit names unique per account and region. Auto-named resources are unique by their random suffix, and
final snapshot names by theirs (:func:`_snapshot_unique`)."""


def account_names(recording: Recording, region: str) -> Iterator[tuple[tuple[str, str, str], str]]:
    """``((region, type, name), owner)`` for each name AWS wants unique in an account and region."""
    for type_, prop in ACCOUNT_SCOPED:
        for resource in recording.by_type(type_):
            if prop in resource.plain_inputs:
                key = (region, type_, str(resource.plain_inputs[prop]).lower())
                yield key, f"{recording.project}/{recording.stack} {resource.name}"


def unique_names(recordings: Iterable[tuple[Recording, str]]) -> list[str]:
    """Names that two resources of the recordings (stacks in one account) would both claim."""
    seen: dict[tuple[str, str, str], str] = {}
    clashes: list[str] = []
    for recording, region in recordings:
        for key, owner in account_names(recording, region):
            if key in seen:
                clashes.append(f"{key[1]} {key[2]!r} in {key[0]}: {seen[key]} and {owner}")
            seen.setdefault(key, owner)
    return clashes
