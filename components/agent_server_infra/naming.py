"""Every physical name the components give AWS and Kubernetes, derived from project, stack and component name.

Each kind of name has a rule of the real API (charset, case, length, with its source); :func:`physical` turns any
Pulumi name into a name that obeys it. A name that already obeys the rule is kept as it is, so names never move
under a stack whose names were valid; a name that has to change (upper case, ``_`` or ``.``, too long) keeps a
readable head and gets a short hash of the *whole original*, so two inputs that clean up to the same text
(``Prod_EU`` and ``prod-eu``) or share a long head never get the same name.

AWS names that must be unique per account and region are scoped by :func:`scoped`: a name that does not already
start with ``<project>-<stack>`` gets it in front, so the same program deployed as two stacks (or two programs
naming a component alike) never collide. Names AWS generates for us (Pulumi's auto-names, ``<logical name>-<7
random hex>``) are unique by their random suffix; only their logical name must be valid, which :func:`logical`
ensures.

Pure but for :func:`stem_of`, which reads the running program's project and stack: the module imports no Pulumi,
and :func:`scoped` takes project and stack from its caller.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .api_errors import checked as checked  # re-exported: naming.checked checks a name against its rule

HASH_LENGTH = 7
"""Hex digits of the hash a shortened or cleaned name carries."""
LOGICAL_MAX = 160
"""Longest logical (Pulumi) name prefix we derive children from: their auto-names add a role suffix and Pulumi's
``-<7 hex>``, and every auto-named kind we use allows 255 characters."""

_SAFE = re.compile(r"^[a-z]([a-z0-9]|-(?=[a-z0-9]))*$")
"""Lower-case letters, digits and single inner hyphens, starting with a letter: valid in every kind below."""


@dataclass(frozen=True)
class NameRule:
    """What a real API accepts for one kind of name."""

    what: str
    max_length: int
    pattern: str
    """Full-match regular expression of a valid name (length aside)."""
    source: str
    min_length: int = 1
    forbidden_prefixes: tuple[str, ...] = ()

    def problems(self, value: str) -> list[str]:
        """Why ``value`` is not a valid name of this kind (empty when it is)."""
        found: list[str] = []
        if not self.min_length <= len(value) <= self.max_length:
            found.append(f"must be {self.min_length}-{self.max_length} characters (got {len(value)})")
        if not re.fullmatch(self.pattern, value):
            found.append(f"must match {self.pattern}")
        found += [f"must not start with {prefix!r}" for prefix in self.forbidden_prefixes
                  if value.lower().startswith(prefix)]
        return found


_IDENTIFIER = r"[a-z]([a-z0-9]|-(?=[a-z0-9]))*"
"""First a letter; then letters, digits and hyphens; no two hyphens in a row and no hyphen at the end."""

RDS_INSTANCE = NameRule(
    "RDS DB instance identifier", 63, _IDENTIFIER,
    "AWS RDS API reference, CreateDBInstance DBInstanceIdentifier (1-63 letters, digits or hyphens; first a "
    "letter; no two consecutive hyphens; no trailing hyphen; stored lower-case); terraform-provider-aws "
    "internal/service/rds/validate.go validIdentifier",
)
RDS_SNAPSHOT = NameRule(
    "RDS DB snapshot identifier", 255, _IDENTIFIER,
    "AWS RDS API reference, DeleteDBInstance FinalDBSnapshotIdentifier (1-255 letters, digits or hyphens; first "
    "a letter; no two consecutive hyphens; no trailing hyphen); terraform-provider-aws "
    "internal/service/rds/validate.go validFinalSnapshotIdentifier",
)
ELASTICACHE_GROUP = NameRule(
    "ElastiCache replication group id", 40, _IDENTIFIER,
    "AWS ElastiCache API reference, CreateReplicationGroup ReplicationGroupId (1-40 alphanumeric characters or "
    "hyphens; first a letter; no two consecutive hyphens; no trailing hyphen; stored lower-case); "
    "terraform-provider-aws internal/service/elasticache/replication_group.go validReplicationGroupID",
)
ELASTICACHE_SNAPSHOT = NameRule(
    "ElastiCache snapshot name", 255, _IDENTIFIER,
    "AWS ElastiCache API reference, DeleteReplicationGroup FinalSnapshotIdentifier / CreateSnapshot SnapshotName "
    "(letters, digits and hyphens, first a letter, no two consecutive hyphens, no trailing hyphen)",
)
ELASTICACHE_USER = NameRule(
    "ElastiCache user id", 40, _IDENTIFIER,
    "AWS ElastiCache API reference, CreateUser UserId (minimum length 1, [a-zA-Z][a-zA-Z0-9\\-]*, 'stored as a "
    "lowercase string'; no maximum is documented, so ours stay within the replication group id's 40); Amazon "
    "ElastiCache User Guide, 'Authenticating with IAM' (an IAM-enabled user's user id and user name must be the "
    "same, so both are lower case)",
)
ELASTICACHE_USER_GROUP = NameRule(
    "ElastiCache user group id", 40, _IDENTIFIER,
    "AWS ElastiCache API reference, CreateUserGroup UserGroupId ([a-zA-Z][a-zA-Z0-9\\-]*, 'stored as a "
    "lowercase string'); AWS CloudFormation AWS::ElastiCache::UserGroup UserGroupId ([a-z][a-z0-9\\-]*)",
)
LOG_GROUP = NameRule(
    "CloudWatch Logs log group name", 512, r"[\.\-_/#A-Za-z0-9]+",
    "AWS CloudWatch Logs API reference, CreateLogGroup logGroupName (1-512 of [\\.\\-_/#A-Za-z0-9]); "
    "terraform-provider-aws internal/service/logs/validate.go validLogGroupName",
)
RDS_SUBNET_GROUP = NameRule(
    "RDS DB subnet group name", 255, r"(?!default$)[a-z][a-z0-9 ._\-]*",
    "AWS RDS API reference, CreateDBSubnetGroup DBSubnetGroupName (up to 255 letters, digits, periods, "
    "underscores, spaces or hyphens; first a letter; not 'default'); terraform-provider-aws "
    "internal/service/rds/validate.go validSubnetGroupName (^[0-9a-z_ .-]+$: lower-case only)",
)
RDS_PARAMETER_GROUP = NameRule(
    "RDS DB parameter group name", 255, _IDENTIFIER,
    "AWS RDS API reference, CreateDBParameterGroup DBParameterGroupName (1-255 letters, digits or hyphens; first "
    "a letter; no two consecutive hyphens; no trailing hyphen; stored lower-case); terraform-provider-aws "
    "internal/service/rds/validate.go validParamGroupName (lower-case only)",
)
ELASTICACHE_SUBNET_GROUP = NameRule(
    "ElastiCache subnet group name", 255, r"[a-z0-9\-]+",
    "AWS ElastiCache API reference, CreateCacheSubnetGroup CacheSubnetGroupName (up to 255 letters, digits or "
    "hyphens; stored lower-case); terraform-provider-aws internal/service/elasticache/subnet_group.go",
)
ELASTICACHE_PARAMETER_GROUP = NameRule(
    "ElastiCache parameter group name", 255, _IDENTIFIER,
    "AWS ElastiCache API reference, CreateCacheParameterGroup CacheParameterGroupName (letters, digits and "
    "hyphens, first a letter, no two consecutive hyphens, no trailing hyphen; stored lower-case); "
    "terraform-provider-aws internal/service/elasticache/parameter_group.go (StateFunc lower-cases)",
)
SECURITY_GROUP = NameRule(
    "EC2 security group name", 255, r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
    "AWS EC2 API reference, CreateSecurityGroup GroupName (VPC: up to 255 of a-zA-Z0-9, spaces and "
    "._-:/()#,@[]+=&;{}!$*; cannot start with sg-)",
    forbidden_prefixes=("sg-",),
)
IAM_ROLE = NameRule(
    "IAM role name", 64, r"[\w+=,.@-]+",
    "AWS IAM API reference, CreateRole RoleName (1-64 of upper- and lower-case letters, digits and +=,.@_-; unique "
    "per account, in every region)",
)
K8S_DNS_LABEL = NameRule(
    "Kubernetes DNS-1035 label (Deployment, Service and ServiceAccount names)", 63, r"[a-z]([-a-z0-9]*[a-z0-9])?",
    "Kubernetes API, k8s.io/apimachinery/pkg/util/validation IsDNS1035Label (Service names; the strictest of "
    "the object names we set: IsDNS1123Label / IsDNS1123Subdomain accept every DNS-1035 label)",
)
K8S_DNS1123_LABEL = NameRule(
    "Kubernetes DNS-1123 label (Namespace names)", 63, r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
    "Kubernetes API, k8s.io/apimachinery/pkg/util/validation IsDNS1123Label",
)
K8S_SUBDOMAIN = NameRule(
    "Kubernetes DNS-1123 subdomain (names of Deployments, ConfigMaps, Secrets and the other objects)", 253,
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
    "Kubernetes API, k8s.io/apimachinery/pkg/util/validation IsDNS1123Subdomain",
)
K8S_CRONJOB = NameRule(
    "Kubernetes CronJob name", 52, r"[a-z]([-a-z0-9]*[a-z0-9])?",
    "Kubernetes API, pkg/apis/batch/validation/validation.go ValidateCronJobCreate (a name of at most "
    "DNS1035LabelMaxLength - 11 = 52 characters: the controller names each Job <cronjob>-<timestamp>)",
)
K8S_LABEL_VALUE = NameRule(
    "Kubernetes label value", 63, r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?",
    "Kubernetes API, k8s.io/apimachinery/pkg/util/validation IsValidLabelValue",
    min_length=0,
)

RULES: tuple[NameRule, ...] = (
    RDS_INSTANCE, RDS_SNAPSHOT, ELASTICACHE_GROUP, ELASTICACHE_SNAPSHOT, ELASTICACHE_USER, ELASTICACHE_USER_GROUP,
    LOG_GROUP, RDS_SUBNET_GROUP,
    RDS_PARAMETER_GROUP, ELASTICACHE_SUBNET_GROUP, ELASTICACHE_PARAMETER_GROUP, SECURITY_GROUP, IAM_ROLE, K8S_DNS_LABEL,
    K8S_DNS1123_LABEL, K8S_SUBDOMAIN, K8S_LABEL_VALUE, K8S_CRONJOB,
)


def digest(text: str) -> str:
    """A short, stable hash of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LENGTH]


def clean(text: str) -> str:
    """``text`` in the safe charset: lower-case, every other character a hyphen, no doubled or edge hyphens,
    starting with a letter."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned if cleaned[:1].isalpha() else f"n-{cleaned}".rstrip("-")


def fit(text: str, max_length: int, tail: str = "") -> str:
    """``text + tail`` in the safe charset within ``max_length``: unchanged when it already is, else a cleaned,
    shortened head, ``-`` and the hash of the original ``text`` (then ``tail``)."""
    if _SAFE.fullmatch(text) and len(text) + len(tail) <= max_length:
        return text + tail
    room = max_length - len(tail) - HASH_LENGTH - 1
    if room < 1:
        raise ValueError(f"no room for a name within {max_length} characters with the tail {tail!r}")
    head = clean(text)[:room].rstrip("-")
    return f"{head}-{digest(text)}{tail}"


def physical(rule: NameRule, base: str, tail: str = "") -> str:
    """A name of ``rule``'s kind for ``base`` (plus a fixed ``tail`` such as ``-final``)."""
    return checked(rule, fit(base, rule.max_length, tail))


def scoped(name: str, project: str, stack: str) -> str:
    """``name`` with ``<project>-<stack>-`` in front unless it already starts so (the shipped stack program names
    its server ``agent-server-<stack>`` in project ``agent-server``), for names unique per account and region."""
    prefix = f"{project}-{stack}"
    return name if name == prefix or name.startswith(prefix + "-") else f"{prefix}-{name}"


def stem_of(name: str, pinned: str | None) -> str:
    """The physical stem of component ``name``: ``pinned`` when its names are pinned, else ``name``
    :func:`scoped` by the running program's project and stack (read from Pulumi, imported only here)."""
    if pinned:
        return pinned
    import pulumi

    return scoped(name, pulumi.get_project(), pulumi.get_stack())


def logical(name: str) -> str:
    """The prefix of a component's children's logical names, valid for every auto-named kind (Pulumi's auto-name
    is the logical name plus ``-<7 hex>``, its case kept); ``name`` itself when it already is."""
    return fit(name, LOGICAL_MAX)


def kubernetes(name: str, reserve: int = 0) -> str:
    """A DNS-1035 label for ``name`` that leaves ``reserve`` characters for a suffix such as ``-queue``."""
    return fit(name, K8S_DNS_LABEL.max_length - reserve)


def label_value(text: str) -> str:
    """A Kubernetes label value for ``text`` (kept when valid, else cleaned and hashed)."""
    if not K8S_LABEL_VALUE.problems(text):
        return text
    return fit(text, K8S_LABEL_VALUE.max_length)
