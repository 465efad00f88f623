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
from agent_server_infra.config import PEM_CERTIFICATE
from agent_server_infra.env_table import ENV
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


def _rds_provisioned_storage(_: Recording, resource: RecordedResource) -> Iterator[str]:
    """IOPS and throughput where RDS takes them (``provider_rules.STORAGE_SOURCE``)."""
    kind = value(resource, "storageType") or "gp2"
    size, iops, throughput = int(value(resource, "allocatedStorage")), value(resource, "iops"), \
        value(resource, "storageThroughput")
    if kind in {"io1", "io2"}:
        low, high = provider_rules.PROVISIONED_IOPS
        if kind == "io1":
            high = min(high, provider_rules.IO1_MAX_IOPS_PER_GIB * size)
        if iops is None or not low <= int(iops) <= high:
            yield f"{kind} needs provisioned iops within {low}-{high} on {size} GiB (got {iops})"
    elif kind == "gp2" and (iops is not None or throughput is not None):
        yield "gp2 takes neither iops nor storageThroughput"
    elif kind == "gp3" and (iops is not None or throughput is not None):
        if size < provider_rules.GP3_PROVISIONED_MINIMUM_GB:
            yield f"gp3 iops/storageThroughput below {provider_rules.GP3_PROVISIONED_MINIMUM_GB} GiB ({size} GiB)"
        elif iops is None or throughput is None:
            yield "gp3 from 400 GiB takes iops and storageThroughput together"
        elif not (provider_rules.GP3_IOPS[0] <= int(iops) <= provider_rules.GP3_IOPS[1]
                  and provider_rules.GP3_THROUGHPUT[0] <= int(throughput) <= provider_rules.GP3_THROUGHPUT[1]
                  and int(throughput) <= provider_rules.GP3_MAX_THROUGHPUT_PER_IOPS * int(iops)
                  and int(iops) <= provider_rules.GP3_MAX_IOPS_PER_GIB * size):
            yield f"gp3 iops {iops} / storageThroughput {throughput} outside what RDS takes on {size} GiB"


def _rds_blue_green(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """A blue/green deployment needs automated backups and, to upgrade a major, logical replication."""
    if not (value(resource, "blueGreenUpdate") or {}).get("enabled"):
        return
    if not value(resource, "backupRetentionPeriod"):
        yield "blueGreenUpdate without automated backups (backupRetentionPeriod 0)"
    for group in _depends_on(recording, resource, RDS_PARAMS):
        parameters = {item["name"]: item.get("value") for item in value(group, "parameters") or []}
        if parameters.get("rds.logical_replication") != "1":
            yield "blueGreenUpdate without rds.logical_replication = 1 in the instance's parameter group"


def _elasticache_auth(_: Recording, resource: RecordedResource) -> Iterator[str]:
    """The AUTH token strategy ModifyReplicationGroup takes, and data tiering where the node type needs it."""
    strategy = value(resource, "authTokenUpdateStrategy")
    has_token, groups = "authToken" in resource.inputs, value(resource, "userGroupIds") or []
    if strategy not in (None, "ROTATE", "SET", "DELETE"):
        yield f"authTokenUpdateStrategy {strategy!r} is not ROTATE, SET or DELETE"
    if strategy == "DELETE" and (has_token or not groups):
        yield "authTokenUpdateStrategy DELETE only moves a group to RBAC: no authToken, and userGroupIds set"
    if strategy in ("ROTATE", "SET") and not has_token:
        yield f"authTokenUpdateStrategy {strategy} needs an authToken"
    family = str(value(resource, "nodeType") or "").split(".")[1:2]
    if family and family[0].startswith("r") and family[0].endswith("d") and not value(resource, "dataTieringEnabled"):
        yield f"nodeType {value(resource, 'nodeType')} runs only with dataTieringEnabled"


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


def _secret_names(recording: Recording) -> set[str]:
    """Every variable a Secret of the recording carries, and every variable the env table calls secret."""
    names = {row.name for row in ENV.values() if row.secret}
    return names | {key for secret in recording.by_type(SECRET) for key in value(secret, "stringData") or {}}


def _config_map_secrets(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """No ConfigMap carries a secret variable (the env table's secret rows, ``extraSecretEnv``, a URI)."""
    for key in sorted(set(value(resource, "data") or {}) & _secret_names(recording)):
        yield f"data.{key} is a secret variable: a ConfigMap is neither secret nor encrypted"


def _postgres_uris(recording: Recording, container: Mapping[str, Any]) -> dict[str, str]:
    env = _env_of(recording, container, secret=True)
    return {name: uri for name, uri in env.items() if urlsplit(str(uri)).scheme in {"postgresql", "postgres"}}


def _root_cert_mounted(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """A Postgres URI with ``sslrootcert`` verifies the server (``verify-full``) against a file the container has:
    a read-only mount of a ConfigMap volume whose key is the file's name and whose data is a PEM certificate."""
    pod = _pod_spec(resource)
    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        for name, uri in _postgres_uris(recording, container).items():
            query = parse_qs(urlsplit(uri).query)
            if "sslrootcert" not in query:
                continue
            path = query["sslrootcert"][0]
            directory, _, file = path.rpartition("/")
            if query.get("sslmode") != ["verify-full"]:
                yield f"{container['name']}: {name} names sslrootcert with sslmode {query.get('sslmode')}"
            mounts = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == directory]
            if not mounts:
                yield f"{container['name']}: {name} names {path}, but nothing is mounted at {directory}"
                continue
            source = (volumes.get(mounts[0]["name"]) or {}).get("configMap") or {}
            data = next((value(cm, "data") or {} for cm in recording.by_type(CONFIG_MAP)
                         if value(cm, "metadata.name") == source.get("name")), {})
            if not mounts[0].get("readOnly"):
                yield f"{container['name']}: the CA bundle at {directory} is mounted writable"
            if not PEM_CERTIFICATE.search(str(data.get(file, ""))):
                yield f"{container['name']}: {path} is not a PEM certificate of a ConfigMap volume"


CACHE_USER = "aws:elasticache/user:User"
CACHE_USER_GROUP = "aws:elasticache/userGroup:UserGroup"


def _cache_users(recording: Recording) -> dict[str, RecordedResource]:
    return {str(value(user, "userId")): user for user in recording.by_type(CACHE_USER)}


def _cache_user(_: Recording, resource: RecordedResource) -> Iterator[str]:
    """An IAM user's id is its name (so lower case); a password user's passwords are 16-128 accepted characters."""
    mode = value(resource, "authenticationMode") or {}
    user_id, user_name = str(value(resource, "userId")), str(value(resource, "userName"))
    if value(resource, "engine") not in ("redis", "valkey"):
        yield f"engine {value(resource, 'engine')!r} is not redis or valkey"
    if not re.fullmatch(r".*\S.*", str(value(resource, "accessString") or "")):
        yield "accessString must not be blank"
    if mode.get("type") == "iam" and user_id != user_name:
        yield f"an IAM user's userId {user_id!r} and userName {user_name!r} must be the same"
    for password in mode.get("passwords") or []:
        yield from (f"password {problem}" for problem in provider_rules.ELASTICACHE_AUTH_TOKEN.problems(str(password)))
    if mode.get("type") == "password" and not mode.get("passwords"):
        yield "authentication type password without passwords"


def _cache_user_group(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """A user group holds a user named default (ours: switched off), only users that authenticate when its
    engine is valkey, and only users of this stack."""
    users = _cache_users(recording)
    members = [users.get(str(user_id)) for user_id in value(resource, "userIds") or []]
    if any(member is None for member in members):
        yield f"userIds {value(resource, 'userIds')} name users this stack does not create"
    named_default = [m for m in members if m is not None and value(m, "userName") == provider_rules.DEFAULT_USER_NAME]
    if not named_default:
        yield "no user named default: a user group must include one"
    for default in named_default:
        if not str(value(default, "accessString")).startswith("off"):
            yield (f"the default user {value(default, 'userId')!r} is not off: a client sending no user name would "
                   "get its rights")
    if value(resource, "engine") == "valkey":
        for member in members:
            if member is not None and (value(member, "authenticationMode") or {}).get("type") not in ("password",
                                                                                                     "iam"):
                yield f"user {value(member, 'userId')!r} does not authenticate; a valkey user group refuses it"


def _rbac_group(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """A replication group with a user group: no AUTH token, TLS, an engine with IAM authentication when an IAM user
    is in the group, a user group of a matching engine; the server connects as that IAM user with the provider
    variable and no password."""
    group_ids = value(resource, "userGroupIds") or []
    if not group_ids:
        return
    if value(resource, "authToken") is not None:
        yield "authToken beside userGroupIds: the provider refuses both (ConflictsWith)"
    strategy = value(resource, "authTokenUpdateStrategy")
    if strategy not in (None, "DELETE"):
        yield f"authTokenUpdateStrategy {strategy!r} without authToken"
    if value(resource, "transitEncryptionEnabled") is not True:
        yield "IAM authentication needs in-transit encryption"
    engine, version = str(value(resource, "engine") or "redis"), str(value(resource, "engineVersion"))
    users = _cache_users(recording)
    iam_users: set[str] = set()
    for user_group in recording.by_type(CACHE_USER_GROUP):
        if value(user_group, "userGroupId") not in group_ids:
            continue
        if engine == "redis" and value(user_group, "engine") != "redis":
            yield f"user group {value(user_group, 'userGroupId')!r} is not of engine redis (a Redis OSS cache)"
        for user_id in value(user_group, "userIds") or []:
            user = users.get(str(user_id))
            if user is not None and (value(user, "authenticationMode") or {}).get("type") == "iam":
                iam_users.add(str(user_id))
    if iam_users and not provider_rules.elasticache_iam_supported(engine, version):
        yield f"IAM users on {engine} {version}: IAM authentication needs Redis OSS 7.0 / Valkey 7.2"
    for deployment in recording.by_type(DEPLOYMENT):
        for container in _containers(deployment):
            uri = urlsplit(_env_of(recording, container, secret=True).get("REDIS_URI", ""))
            if uri.password:
                yield f"{deployment.name}: the Redis URI carries a password beside IAM authentication"
            if uri.scheme != "rediss":
                yield f"{deployment.name}: the Redis URI is not rediss://"
            if uri.username not in iam_users:
                yield f"{deployment.name}: the Redis URI's user {uri.username!r} is no IAM user of the group"
            if _env_of(recording, container).get("AGENT_REDIS_IAM_AUTH_PROVIDER") != "aws":
                yield f"{deployment.name}: AGENT_REDIS_IAM_AUTH_PROVIDER is not aws"


def _elasticache_connect(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """elasticache:Connect names a replication group of this stack and an IAM user of its user group."""
    for statement in json.loads(value(resource, "policy"))["Statement"]:
        if statement["Action"] != "elasticache:Connect":
            continue
        groups = {str(group.outputs.get("arn")): group for group in recording.by_type(GROUP)}
        arns = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        targets = [arn for arn in arns if arn in groups]
        users = [re.fullmatch(r"arn:([a-z-]+):elasticache:([a-z0-9-]+):(\d{12}):user:([a-z][a-z0-9-]*)", arn)
                 for arn in arns if arn not in groups]
        if len(targets) != 1 or len(users) != 1 or users[0] is None:
            yield f"resources {arns} are not one replication group of this stack and one user ARN"
            continue
        group_arn = targets[0]
        partition, region, account, user_id = users[0].groups()
        if not group_arn.startswith(f"arn:{partition}:elasticache:{region}:{account}:replicationgroup:"):
            yield f"user ARN {arns} is not in the replication group's partition, region and account"
        group_user_ids = {str(user_id) for user_group in recording.by_type(CACHE_USER_GROUP)
                          if value(user_group, "userGroupId") in (value(groups[group_arn], "userGroupIds") or [])
                          for user_id in value(user_group, "userIds") or []}
        if user_id not in group_user_ids:
            yield f"user {user_id!r} is not in the user group of {value(groups[group_arn], 'replicationGroupId')}"


POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
METRICS_SOURCE = (
    "langgraph-api 0.11.1-0.16.7: langgraph_api/api/__init__.py Route('/metrics') and api/meta.py meta_metrics "
    "(the API, on PORT under MOUNT_PREFIX), langgraph_api/queue_entrypoint.py health_and_metrics_server (Route "
    "'/metrics' on PORT, also mounted under MOUNT_PREFIX); langgraph_api/metrics_collector.py (queue depth from "
    "the API process only); Agent Server changelog v0.11.0 (LSD_PROM_METRICS_ENABLED, LSD_PROM_METRICS_PORT "
    "default 9464)"
)


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and In/NotIn/Exists/DoesNotExist expressions) selects ``labels``."""
    if any(labels.get(key) != wanted for key, wanted in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values) \
                or (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def _pod_labels(deployment: RecordedResource) -> dict[str, str]:
    return dict(value(deployment, "spec.template.metadata.labels") or {})


def _pod_monitor(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """The monitor selects the API and the queue pods (and nothing else of ours), on a port they declare, at the
    path they serve the metrics on."""
    try:
        k8s_validate.validate(resource)
    except Exception as exc:  # jsonschema.ValidationError: the message is the finding
        yield f"refused by the Prometheus Operator schema: {str(exc).splitlines()[0]}"
    spec = value(resource, "spec")
    selected = [d for d in recording.by_type(DEPLOYMENT) if _selects(spec["selector"], _pod_labels(d))]
    roles = sorted(_pod_labels(d).get("app.kubernetes.io/component", "") for d in selected)
    if roles != ["api", "queue"]:
        yield f"selects the pods of {roles}, not of the api and the queue"
    for job in recording.by_type("kubernetes:batch/v1:Job"):
        if _selects(spec["selector"], dict(value(job, "spec.template.metadata.labels") or {})):
            yield f"selects the pods of Job {job.name}"
    for endpoint in spec.get("podMetricsEndpoints") or []:
        for deployment in selected:
            for container in _containers(deployment):
                ports = {port.get("name"): port.get("containerPort") for port in container.get("ports") or []}
                env = _env_of(recording, container)
                if endpoint.get("port") not in ports:
                    yield f"{deployment.name}: no container port named {endpoint.get('port')!r}"
                elif str(int(ports[endpoint["port"]])) == env.get("PORT") and \
                        endpoint.get("path") != f"{env.get('MOUNT_PREFIX', '')}/metrics":
                    yield (f"{deployment.name}: path {endpoint.get('path')!r}; both roles serve "
                           f"{env.get('MOUNT_PREFIX', '')}/metrics on PORT")


def _scrapable(recording: Recording, resource: RecordedResource) -> Iterator[str]:
    """With metrics on, the dedicated port is not PORT, the container declares it, and the NetworkPolicies that
    select the pod admit a namespace to both PORT and that port."""
    for container in _containers(resource):
        env = _env_of(recording, container)
        if env.get("LSD_PROM_METRICS_ENABLED") != "true":
            continue
        port, metrics_port = env.get("PORT"), env.get("LSD_PROM_METRICS_PORT", "9464")
        if metrics_port == port:
            yield f"{container['name']}: LSD_PROM_METRICS_PORT {metrics_port} is PORT, which the server binds"
        declared = {str(int(p["containerPort"])) for p in container.get("ports") or []}
        if metrics_port not in declared:
            yield f"{container['name']}: the metrics port {metrics_port} is not a container port"
        policies = [p for p in recording.by_type(NETWORK_POLICY)
                    if _selects(value(p, "spec.podSelector") or {}, _pod_labels(resource))]
        if not policies:
            continue
        admitted = {str(int(port_rule["port"])) for p in policies for rule in value(p, "spec.ingress") or []
                    if any(peer.get("namespaceSelector") for peer in rule.get("from") or [])
                    for port_rule in rule.get("ports") or []}
        missing = sorted({port, metrics_port} - admitted)
        if missing:
            yield f"{resource.name}: no NetworkPolicy admits a scraper namespace to port(s) {missing}"


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
    _name_rule(CACHE_USER, "userId", naming.ELASTICACHE_USER),
    _name_rule(CACHE_USER_GROUP, "userGroupId", naming.ELASTICACHE_USER_GROUP),
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
    Rule(RDS, "storageType / iops / storageThroughput", "io1/io2 with provisioned IOPS; gp3 IOPS and throughput "
         "only from 400 GiB, together, within their ranges", provider_rules.STORAGE_SOURCE,
         _rds_provisioned_storage),
    Rule(RDS, "blueGreenUpdate", "automated backups and rds.logical_replication in the instance's parameter group",
         "terraform-provider-aws internal/service/rds/blue_green.go (backups must be enabled); Amazon RDS User "
         "Guide, 'Replication methods for blue/green deployments' (a major upgrade replicates logically: "
         "rds.logical_replication = 1)", _rds_blue_green),
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
    Rule(GROUP, "authTokenUpdateStrategy / nodeType", "ROTATE or SET with a token, DELETE only moving to RBAC; "
         "r6gd nodes only with data tiering", "AWS ElastiCache API reference, ModifyReplicationGroup "
         "AuthTokenUpdateStrategy; Amazon ElastiCache User Guide, 'Data tiering'; terraform-provider-aws "
         "internal/service/elasticache/replication_group.go authTokenUpdateStrategyValidate", _elasticache_auth),
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
    # secrets and TLS trust
    Rule(CONFIG_MAP, "data", "no secret variable in a ConfigMap (env table secrets, extraSecretEnv, URIs)",
         "Kubernetes documentation, Concepts > Configuration > ConfigMaps ('ConfigMap does not provide secrecy or "
         "encryption. If the data you want to store are confidential, use a Secret')", _config_map_secrets),
    *(Rule(kind, "containers[].volumeMounts / Postgres URI sslrootcert", "sslrootcert with verify-full names a "
           "PEM file of a read-only ConfigMap mount", "PostgreSQL documentation, libpq 'SSL Support' (sslrootcert: "
           "a file of CA certificates; verify-full checks the chain and the host name); langgraph-runtime-pg "
           "database.py _build_asyncpg_ssl_connect_arg (create_default_context(cafile=sslrootcert)); Kubernetes "
           "documentation, 'Configure a Pod to Use a ConfigMap' (each key a file in the mount directory)",
           _root_cert_mounted) for kind in (DEPLOYMENT, JOB, CRONJOB)),
    # IAM database authentication
    Rule(ROLE_POLICY, "name / policy", "rds-db:connect on an IAM-enabled instance of this stack, as the server's "
         "user", "AWS IAM API reference, PutRolePolicy PolicyName; Amazon RDS User Guide, 'Creating and using an "
         "IAM policy for IAM database access'", _rds_connect),
    Rule(RDS, "iamDatabaseAuthenticationEnabled", "a passwordless URI, AGENT_POSTGRES_IAM_AUTH_PROVIDER=aws, a "
         "connect policy and the bootstrap Job before both roles", "docs.langchain.com/langsmith/configure-iam-auth "
         "(langgraph-api ≥ 0.12.0: URI without password, sslmode=require, the provider variable on API and queue)",
         _iam_login),
    # ElastiCache IAM authentication
    Rule(CACHE_USER, "userId / userName / authenticationMode / accessString", "an IAM user's id is its name; "
         "passwords 16-128 accepted characters; a non-blank access string", provider_rules.ELASTICACHE_IAM_SOURCE
         + "; AWS ElastiCache API reference, CreateUser (AccessString .*\\S.*, Engine valkey or redis)", _cache_user),
    Rule(CACHE_USER_GROUP, "userIds / engine", "a user named default (ours off), only authenticating users in a "
         "valkey group", provider_rules.ELASTICACHE_USER_GROUP_SOURCE, _cache_user_group),
    Rule(GROUP, "userGroupIds / authToken / transitEncryptionEnabled", "RBAC without the AUTH token, with TLS, on "
         "an engine with IAM authentication; the server's URI names the IAM user without a password, with "
         "AGENT_REDIS_IAM_AUTH_PROVIDER=aws", provider_rules.ELASTICACHE_RBAC_AUTH_SOURCE + "; "
         + provider_rules.ELASTICACHE_IAM_SOURCE + "; docs.langchain.com/langsmith/configure-iam-auth "
         "(REDIS_URI rediss://<elasticache-iam-user>@<endpoint>:6379)", _rbac_group),
    Rule(ROLE_POLICY, "policy (elasticache:Connect)", "the replication group and an IAM user of its user group",
         provider_rules.ELASTICACHE_IAM_SOURCE + " (resources arn:<partition>:elasticache:<region>:<account>:"
         "replicationgroup:<id> and :user:<user id>)", _elasticache_connect),
    # Prometheus metrics
    Rule(POD_MONITOR, "spec", "the Prometheus Operator schema; selects the api and queue pods only, on a port they "
         "declare, at <MOUNT_PREFIX>/metrics", METRICS_SOURCE + "; @kubernetes-models/prometheus-operator 6.0.0 "
         "(generated from prometheus-operator pkg/apis/monitoring)", _pod_monitor),
    Rule(DEPLOYMENT, "containers[].ports / NetworkPolicy (metrics)", "the metrics port is not PORT, is declared and "
         "is admitted with PORT from a scraper namespace", METRICS_SOURCE + "; Kubernetes API, NetworkPolicy "
         "(a pod selected by a policy takes only the traffic some rule admits)", _scrapable),
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
    (CACHE_USER, "userId"),
    (CACHE_USER_GROUP, "userGroupId"),
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
