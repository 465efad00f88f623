"""What Kubernetes admits in our pods' security settings, each rule with its source.

The Workload builds its containers from these (the init container as well as the server's), and the conformance
tier (``tests/conformance``) checks every recorded pod template against them. Pure: no Pulumi import.
"""

from __future__ import annotations

RESTRICTED_SOURCE = (
    "Kubernetes Pod Security Standards, Restricted profile (kubernetes.io/docs/concepts/security/"
    "pod-security-standards/): for spec.containers[*] and spec.initContainers[*] alike, allowPrivilegeEscalation "
    "false, capabilities.drop ALL, runAsNonRoot true and seccompProfile RuntimeDefault (each set on the container "
    "or the pod)"
)
READ_ONLY_ROOT = "readOnlyRootFilesystem: true (this library's rule for every container; writable paths are emptyDirs)"

SAFE_SYSCTLS: dict[str, str] = {
    "kernel.shm_rmid_forced": "",
    "net.ipv4.ip_local_port_range": "",
    "net.ipv4.tcp_syncookies": "",
    "net.ipv4.ping_group_range": "1.18",
    "net.ipv4.ip_unprivileged_port_start": "1.22",
    "net.ipv4.ip_local_reserved_ports": "1.27",
    "net.ipv4.tcp_keepalive_time": "1.29",
    "net.ipv4.tcp_fin_timeout": "1.29",
    "net.ipv4.tcp_keepalive_intvl": "1.29",
    "net.ipv4.tcp_keepalive_probes": "1.29",
    "net.ipv4.tcp_rmem": "1.32",
    "net.ipv4.tcp_wmem": "1.32",
}
"""The sysctls the kubelet allows by default, and the Kubernetes release that made each one safe."""
SAFE_SYSCTLS_SOURCE = (
    "Kubernetes docs, 'Using sysctls in a Kubernetes Cluster' (kubernetes/website content/en/docs/tasks/"
    "administer-cluster/sysctl-cluster.md: the safe set, up to net.ipv4.tcp_rmem/tcp_wmem in 1.32; 'All unsafe "
    "sysctls are disabled by default and must be allowed manually by the cluster admin on a per-node basis ... "
    "kubelet --allowed-unsafe-sysctls'); kubelet pkg/kubelet/sysctl/safe_sysctls.go; Pod Security Standards, "
    "Baseline profile (spec.securityContext.sysctls[*].name: only the safe set)"
)

TCP_RETRIES2 = "net.ipv4.tcp_retries2"
"""Not in the safe set of any Kubernetes release: a pod that sets it starts only on nodes whose kubelet runs with
``--allowed-unsafe-sysctls=net.ipv4.tcp_retries2`` (elsewhere it fails with ``SysctlForbidden``), and only in a
namespace whose Pod Security admission is ``privileged`` (Baseline and Restricted refuse unsafe sysctls)."""
TCP_RETRIES2_MIN = 8
TCP_RETRIES2_DEFAULT = 15
TCP_RETRIES2_SOURCE = (
    "Linux Documentation/networking/ip-sysctl.rst, tcp_retries2 ('The default value of 15 yields a hypothetical "
    "timeout of 924.6 seconds ... RFC 1122 recommends at least 100 seconds for the timeout, which corresponds to a "
    "value of at least 8'); include/net/tcp.h (TCP_RTO_MIN 200 ms, TCP_RTO_MAX 120 s)"
)
TCP_RTO_MIN_SECONDS = 0.2
TCP_RTO_MAX_SECONDS = 120.0

UNSAFE_SYSCTLS_OPT_IN = frozenset({TCP_RETRIES2})
"""The unsafe sysctls a stack may opt into (``server.tcpRetries2``), with the kubelet allow-list documented."""


def tcp_retries2_timeout(retries: int) -> float:
    """Seconds before the kernel drops a connection whose data stays unacknowledged (a dead peer that sends no
    reset): the first ``retries + 1`` RTOs of an exponential back-off from TCP_RTO_MIN, each capped at
    TCP_RTO_MAX; 924.6 s at the kernel's default of 15."""
    return round(sum(min(TCP_RTO_MIN_SECONDS * 2**attempt, TCP_RTO_MAX_SECONDS) for attempt in range(retries + 1)),
                 1)
