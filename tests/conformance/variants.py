"""The generated matrix the conformance tier plans besides the shipped stacks and the example.

Each variant is a shipped stack file with changes, planned under a stack name of its own: stack names that need
cleaning (upper case, ``_``, ``.``) or shortening (60 characters and more, twins that share a long head), every
ElastiCache engine and version we accept, Postgres 15/16/17 (major only and pinned), single, cluster and external
stores, the control-plane model, each ingress class, the queue scaled on its backlog and alarms on each store
shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.helpers import Changes, Replace

SECURE = {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB="}
PEM = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUStandInRdsCaBundle0wCgYIKoZIzj0EAwIw\n"
       "-----END CERTIFICATE-----\n")
LONG = "a" * 60
TOPIC = Replace(snsTopicArn="arn:aws:sns:us-east-1:123456789012:agents-alarms")


@dataclass(frozen=True)
class Variant:
    """A shipped stack (``base``) with ``changes``, planned as stack ``stack``."""

    id: str
    base: str
    stack: str
    changes: Changes = field(default_factory=dict)


def _redis(engine: str, version: str | None) -> Changes:
    return {"redis": {"engine": engine, "engineVersion": version}}


VARIANTS: tuple[Variant, ...] = (
    # stack names: any valid Pulumi stack name ([A-Za-z0-9_.-]{1,100})
    Variant("stack-upper-underscore", "prod", "Prod_EU"),
    Variant("stack-lower-twin", "prod", "prod-eu"),
    Variant("stack-dots", "dev", "team.alpha.dev"),
    Variant("stack-upper", "dev", "UPPER"),
    Variant("stack-digit-first", "dev", "2026-canary"),
    Variant("stack-long-one", "staging", f"{LONG}-one"),
    Variant("stack-long-two", "staging", f"{LONG}-two"),
    Variant("stack-100", "cluster", "C" * 50 + "_" + "c" * 49),
    # Postgres
    Variant("postgres-15", "dev", "pg15", {"postgres": {"engineVersion": "15"}}),
    Variant("postgres-17", "dev", "pg17", {"postgres": {"engineVersion": "17"}}),
    Variant("postgres-17-pinned", "prod", "pg17pinned",
            {"postgres": {"engineVersion": "17.5", "autoMinorVersionUpgrade": False}}),
    # ElastiCache engines and versions
    *(Variant(f"redis-{version}", "dev", f"redis{version.replace('.', '')}", _redis("redis", version))
      for version in ("6.2", "7.0", "7.1")),
    # Redis 6.0 only under a server older than 0.8.0, whose run queue does not enqueue with ZADD ... LT (Agent
    # Server changelog 0.8.0); every newer server is refused it (rules.REDIS_QUEUE_SOURCE).
    Variant("redis-6.0", "dev", "redis60", {**_redis("redis", "6.0"), "server": {"serverVersion": "0.7.103"}}),
    Variant("valkey-default", "dev", "valkey", _redis("valkey", None)),
    *(Variant(f"valkey-{version}", "staging", f"valkey{version.replace('.', '')}", _redis("valkey", version))
      for version in ("7.2", "8.0", "8.1", "8.2", "9.0")),
    Variant("valkey-cluster", "cluster", "valkey-cluster", _redis("valkey", "8.2")),
    Variant("redis-6-cluster", "cluster", "redis6-cluster", _redis("redis", "6.2")),
    # store shapes
    Variant("single-no-replica-prod", "prod", "prod-single", {"redis": {"replicas": 0}}),
    Variant("external-stores", "dev", "external", {
        "postgres": Replace(mode="external", maxConnections=500),
        "redis": Replace(mode="external", maxClients=10000, cluster=True),
        "network": None, "postgresUri": SECURE, "redisUri": SECURE,
    }),
    Variant("control-plane", "staging", "control-plane", {"server": {
        "image": None, "ingress": None, "serviceAccountRoleArn": None, "namespace": None,
        "deploymentModel": "control-plane", "networkPolicy": None}, "postgres": {"iamAuthentication": None}}),
    # ingress classes
    Variant("ingress-nginx", "prod", "nginx", {"server": {"ingress": Replace(
        host="agents.example.com", className="nginx", tlsSecretName="agents-example-com-tls")}}),
    Variant("ingress-default-class", "dev", "default-class", {"server": {"ingress": Replace(
        host="agents.dev.example.com")}}),
    Variant("ingress-alb-internal", "staging", "alb-internal", {"server": {"mountPrefix": "/a/b"}}),
    # operations: the queue on its backlog, alarms on every store shape
    Variant("backlog-long-name", "prod", f"{LONG}-backlog", {
        "server": {"queue": Replace(replicas=1, maxReplicas=6, autoscaling="backlog")}, "alarms": TOPIC}),
    Variant("alarms-cluster", "cluster", "alarms-cluster", {"alarms": TOPIC}),
    Variant("alarms-single-no-replica", "dev", "alarms-dev", {"alarms": TOPIC}),
    # secret extra environment, and Postgres TLS that verifies the server (with IAM: the bootstrap Job too)
    Variant("extra-secret-env", "prod", "secret-env", {"extraSecretEnv": {"LANGGRAPH_AES_KEY": SECURE}}),
    Variant("postgres-verify-full", "dev", "verify-full", {"postgres": {"caBundle": PEM}}),
    Variant("postgres-verify-full-iam", "staging", "verify-full-iam", {"postgres": {"caBundle": PEM}}),
    Variant("postgres-verify-full-stuck-runs", "dev", "verify-full-stuck", {
        "postgres": {"caBundle": PEM}, "server": {"stuckRuns": {"afterSeconds": 900}}}),
    # ElastiCache IAM authentication (langgraph-api ≥ 0.13): single mode with RDS IAM on the given role; cluster
    # mode on Valkey with a role created from the OIDC provider
    Variant("redis-iam-staging", "staging", "redis-iam", {
        "redis": {"iamAuthentication": True}, "server": {"serverVersion": "0.16.7"}}),
    Variant("redis-iam-valkey-cluster", "cluster", "redis-iam-cluster", {
        "redis": {"engine": "valkey", "engineVersion": "8.2", "iamAuthentication": True,
                  "iamUserId": "agents-cluster-server"},
        "server": {"serverVersion": "0.13.8", "serviceAccountRoleArn": None,
                   "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/"
                                      "5C2A7B1E9D"}}),
    # Prometheus metrics: the scraper admitted to both roles, a PodMonitor, under prod's mount prefix
    Variant("metrics-pod-monitor", "prod", "metrics", {"server": {"metrics": {
        "enabled": True, "podMonitor": True, "scraperNamespaces": ["monitoring", "prometheus"]}}}),
    # day-2 knobs: blue/green upgrades, provisioned storage, Multi-AZ off with replicas, a rotated AUTH token
    Variant("blue-green", "prod", "blue-green", {"postgres": {"blueGreenUpdate": True, "applyImmediately": True,
                                                             "allowMajorVersionUpgrade": True}}),
    Variant("io1-storage", "prod", "io1", {"postgres": {"storageType": "io1", "iops": 3000}}),
    Variant("gp3-provisioned", "prod", "gp3-provisioned", {"postgres": {"allocatedStorageGb": 400, "iops": 12000,
                                                                        "storageThroughput": 750}}),
    Variant("redis-multi-az-off", "prod", "multi-az-off", {"redis": {"multiAz": False, "applyImmediately": True}}),
    Variant("redis-token-rotated", "dev", "token-set", {"redis": {"authTokenVersion": 1,
                                                                 "authTokenUpdateStrategy": "SET"}}),
    # IAM authentication with a role created from the OIDC provider, under a long stack name
    Variant("iam-oidc-long-name", "staging", f"{LONG}-iam", {"server": {
        "serviceAccountRoleArn": None,
        "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/5C2A7B1E9D"}}),
    # resilience: the opt-in unsafe sysctl for failovers that never reset a connection
    Variant("tcp-retries2", "prod", "tcp-retries2", {"server": {"tcpRetries2": 8}}),
    Variant("stuck-runs-long-name", "prod", f"{LONG}-stuck", {"server": {"stuckRuns": {"afterSeconds": 900}}}),
)
