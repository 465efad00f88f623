"""What an update of a Kubernetes object does (pulumi-kubernetes).

``provider/pkg/provider/diff.go`` (``forceNewProperties``) replaces an object when ``metadata.name`` or
``metadata.namespace`` changes, and per kind on its immutable fields (a Deployment's selector, a Secret's or
ConfigMap's data, a Job's template, a Service's clusterIP); ``provider.go`` ``Diff`` deletes first when the object
keeps a name the program set in the same namespace, and creates first otherwise. Since 4.29 a create of an object
that already exists answers AlreadyExists instead of adopting it (CHANGELOG 4.29.0, #2926).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import Finding
from .common import config_key, show, under

DIFF_GO = ("pulumi-kubernetes provider/pkg/provider/diff.go forceNewProperties (metadata.name and metadata.namespace "
           "for every kind; Deployment .spec.selector; Secret .type/.data/.stringData; ConfigMap .data/.binaryData; "
           "Job .spec.template/.selector/.completions/.parallelism; Service .spec.clusterIP) and provider.go Diff "
           "(delete before replace when the object keeps a name the program set, in the same namespace)")
CREATE_CHANGELOG = ("pulumi-kubernetes CHANGELOG 4.29.0 (#2926): 'When a resource already exists in the cluster, the "
                    "API server now returns an AlreadyExists error instead of silently updating the existing object' "
                    "(4.0-4.28 adopted it with server-side apply, and the old resource's delete then removed it)")
ALB_DOCS = ("kubernetes-sigs/aws-load-balancer-controller docs/guide/ingress/annotations.md: an Ingress without "
            "`alb.ingress.kubernetes.io/group.name` gets a load balancer of its own, deleted with it")
IRSA_DOCS = ("Amazon EKS User Guide, 'Assign IAM roles to Kubernetes service accounts': the role's trust policy "
             "names system:serviceaccount:<namespace>:<name> in its <issuer>:sub condition")
SERVICE_DNS = ("Kubernetes documentation, 'DNS for Services and Pods': a Service's name is "
               "<service>.<namespace>.svc.<cluster domain>")

FORCE_NEW: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates",
                                       "spec.podManagementPolicy", "spec.revisionHistoryLimit"),
    "kubernetes:core/v1:Secret": ("type", "data", "stringData"),
    "kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
    "kubernetes:batch/v1:Job": ("spec.template", "spec.selector", "spec.completions", "spec.parallelism"),
}
"""Per kind, the fields (besides name and namespace) whose change replaces the object."""
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
ROLLING = frozenset({"kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Secret", "kubernetes:batch/v1:Job"})
"""Kinds the Workload auto-names so that new content is a new object the Deployments (or the bootstrap) roll onto."""


def identity(resource: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(type, namespace, name)`` of an object with a name the program set (``None`` when auto-named: its name
    is new each time, so it never collides)."""
    metadata = (resource.get("inputs") or {}).get("metadata") or {}
    name = metadata.get("name")
    if not name:
        return None
    return resource["type"], str(metadata.get("namespace") or ""), str(name)


def object_findings(type_: str, old: Mapping[str, Any], new: Mapping[str, Any],
                    changed_paths: list[str]) -> list[Finding]:
    """The findings of an update of one object whose changed input paths are ``changed_paths``."""
    meta_old, meta_new = old.get("metadata") or {}, new.get("metadata") or {}
    moved = [key for key in ("name", "namespace") if meta_old.get(key) != meta_new.get(key)]
    immutable = [path for path in FORCE_NEW.get(type_, ()) if any(under(changed, path) for changed in changed_paths)]
    if not moved and not immutable:
        return [Finding("immediate", "updated in place", source=DIFF_GO)]
    named = bool(meta_new.get("name"))
    what = ", ".join([f"`metadata.{key}` {show(meta_old.get(key))} → {show(meta_new.get(key))}" for key in moved]
                     + [f"`{path}`" for path in immutable])
    if named and not moved:
        findings = [Finding("replace-delete-first", f"{what} replaces the object, and as it keeps its name the old "
                            "one is deleted first", source=DIFF_GO)]
        if type_ in {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"}:
            findings.append(Finding("disruption", "nothing serves between the delete and the create",
                                    source=DIFF_GO))
        return findings
    findings = [Finding("replace", f"{what} replaces the object (the new one is created before the old one is "
                        "deleted)", source=DIFF_GO)]
    if "namespace" in moved:
        findings += _moved(type_, new, str(meta_new.get("namespace")))
    return findings


def _moved(type_: str, new: Mapping[str, Any], namespace: str) -> list[Finding]:
    if type_ == "kubernetes:core/v1:Service":
        return [Finding("disruption", f"the API's in-cluster address moves to <name>.{namespace}.svc: clients of "
                        "the old address (the stack's `url` output) break", "point in-cluster clients at the new "
                        "`url` output", SERVICE_DNS)]
    if type_ == "kubernetes:networking.k8s.io/v1:Ingress":
        spec = new.get("spec") or {}
        if spec.get("ingressClassName") == "alb":
            return [Finding("disruption", "a new Ingress gets a new application load balancer with a new DNS name; "
                            "the old one is deleted with the old Ingress: DNS records that point at it break",
                            "point the host's DNS record at the new load balancer (or use an "
                            "alb.ingress.kubernetes.io/group.name shared by both)", ALB_DOCS)]
    return []


def namespace_move_findings(annotations: Mapping[str, Any], role_updated: bool, iam_database: bool,
                            namespace: str) -> list[Finding]:
    """A ServiceAccount with an IRSA role moving to ``namespace``: the role must trust the new service account."""
    role = annotations.get("eks.amazonaws.com/role-arn")
    if not role or role_updated:
        return []
    findings = [Finding("disruption", f"the pods' IRSA role {role} trusts the service account of the old "
                        "namespace: in the new one they get no AWS credentials", "add "
                        f"system:serviceaccount:{namespace}:<service account> to the role's trust policy first (or "
                        f"let the component create the role: {config_key('server.oidcProviderArn')})", IRSA_DOCS)]
    if iam_database:
        findings.append(Finding("fails", "the server logs in to Postgres with IAM tokens of that role: the new pods "
                                "cannot connect, never become ready, and `pulumi up` fails waiting for them",
                                "update the role's trust policy before this change", IRSA_DOCS))
    return findings


def collision_finding(identity_: tuple[str, str, str]) -> Finding:
    """A created object whose kind, namespace and name a deleted one of another URN still holds."""
    type_, namespace, name = identity_
    where = f"{namespace}/{name}" if namespace else name
    return Finding("fails", f"{type_.split(':')[-1]} {where} is created under a new URN while the old resource of "
                   "the same name still exists (Pulumi creates before it deletes): the API server answers "
                   "AlreadyExists", f"keep the URN: pin {config_key('naming.name')} to the current name (or give the "
                   "object another name)", CREATE_CHANGELOG)
