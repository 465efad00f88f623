"""Transitions that move things: a renamed stack, a server leaving a shared Redis, IAM authentication turned off on a
database an older bootstrap prepared, and the order in which `pulumi up` applies a store and the pods."""

from __future__ import annotations

import copy
from typing import Any

from agent_server_infra.bootstrap import VERSION_LABEL
from agent_server_infra.plan.diff import diff_documents
from agent_server_infra.transitions import common, kubernetes, rds, runtime
from tests.helpers import ROOT, PlanDocument, Replace

RDS = "aws:rds/instance:Instance"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
STORES = {RDS, GROUP}
JOB = "kubernetes:batch/v1:Job"
PINNED = {"naming": Replace(name="agent-server-dev")}
EXAMPLE = ROOT / "examples" / "shared-redis"


def test_a_stack_renamed_without_a_pin_gets_new_empty_stores_and_is_blocked(plan_document: PlanDocument) -> None:
    diff = diff_documents(plan_document("dev"), plan_document("dev", name="dev2"))
    assert diff.renamed_stack == ("dev", "dev2")
    deleted = {item.type for item in diff.assessed if item.action == "delete"}
    created = {item.type for item in diff.assessed if item.action == "create"}
    assert deleted >= STORES
    assert created >= STORES
    assert set(diff.blocking()) == {"fails", "data-loss"}
    namespace = next(item for item in diff.assessed if item.type == kubernetes.NAMESPACE_TYPE
                     and item.action == "create")
    assert any(finding.effect == "fails" and "AlreadyExists" in finding.message
               and finding.source == kubernetes.CREATE_CHANGELOG for finding in namespace.findings)
    assert any("naming.name" in finding.way for finding in namespace.findings)


def test_a_stack_renamed_with_the_name_pinned_keeps_every_resource(plan_document: PlanDocument) -> None:
    pinned = plan_document("dev", PINNED)
    assert diff_documents(plan_document("dev"), pinned).has_changes is False, "pinning today's name moves nothing"
    diff = diff_documents(pinned, plan_document("dev", PINNED, name="dev2"))
    assert diff.renamed_stack == ("dev", "dev2")
    assert not diff.added
    assert not diff.removed
    assert {item.action for item in diff.assessed} <= {"update"}
    assert not diff.blocked()
    changed = {path for change in diff.changed for path in change.paths}
    assert changed == {'tags["pulumi-stack"]'}, "only the stack tag moves"


def test_a_server_leaving_a_shared_redis_deletes_its_database_and_leaves_its_keys(
        plan_document: PlanDocument) -> None:
    both = plan_document("dev", program=EXAMPLE)
    one = plan_document("dev", {"shared-redis:teams": [{"name": "support", "prefix": "support:"}]}, program=EXAMPLE)
    diff = diff_documents(both, one)
    research = [item for item in diff.assessed if item.name.startswith("research")]
    database = next(item for item in research if item.type == RDS)
    assert database.action == "delete"
    assert {"data-loss", "fails"} <= set(database.effects), "deletion protection refuses the delete"
    server = next(item for item in research if item.type == common.AGENT_SERVER)
    keys = [finding for finding in server.findings if finding.effect == "disruption"]
    assert keys
    assert "research:" in keys[0].message
    assert "redis-cli --scan --pattern 'research:*'" in keys[0].way
    assert not [item for item in diff.assessed if item.type == GROUP and item.action == "delete"]


def test_iam_off_waits_for_a_bootstrap_that_made_the_master_a_member(plan_document: PlanDocument) -> None:
    staging = plan_document("staging")
    off = plan_document("staging", {"postgres": {"iamAuthentication": None}})
    assert not diff_documents(staging, off).blocked(), "this version's bootstrap makes the master a member"
    older = copy.deepcopy(staging)
    [job] = [resource for resource in older["resources"] if resource["type"] == JOB]
    labels: dict[str, Any] = job["inputs"]["metadata"]["labels"]
    assert labels.pop(VERSION_LABEL) == str(runtime.MEMBERSHIP_BOOTSTRAP)
    diff = diff_documents(older, off)
    assert diff.blocking() == ["fails"]
    [finding] = [finding for item in diff.assessed for finding in item.findings if finding.effect == "fails"]
    assert finding.source == runtime.BOOTSTRAP_SOURCE
    assert finding.way.startswith("two steps")


def _reaches(document: dict[str, Any], start: str, target: str) -> bool:
    """Whether ``start`` depends on ``target``, directly or through other resources."""
    dependencies = {resource["urn"]: resource.get("dependencies") or [] for resource in document["resources"]}
    seen, todo = set(), [start]
    while todo:
        urn = todo.pop()
        if urn == target:
            return True
        if urn not in seen:
            seen.add(urn)
            todo.extend(dependencies.get(urn, []))
    return False


def test_the_pods_roll_only_after_the_stores_are_updated(plan_document: PlanDocument) -> None:
    """The budget's transition rule assumes the pools reach the pods after the store's update has finished: each
    Deployment depends on the RDS instance and the replication group, so Pulumi waits for them (with
    applyImmediately, the provider waits for the instance to be available again)."""
    for stack in ("dev", "prod", "cluster", "staging"):
        document = plan_document(stack)
        stores = [resource["urn"] for resource in document["resources"] if resource["type"] in STORES]
        deployments = [resource["urn"] for resource in document["resources"]
                       if resource["type"] == "kubernetes:apps/v1:Deployment"]
        assert len(stores) == 2
        assert deployments
        for deployment in deployments:
            for store in stores:
                assert _reaches(document, deployment, store), (stack, deployment, store)


def test_the_major_upgrade_fails_the_same_way_on_every_shipped_stack(plan_document: PlanDocument) -> None:
    for stack in ("dev", "staging", "prod", "cluster"):
        diff = diff_documents(plan_document(stack), plan_document(stack, {"postgres": {"engineVersion": "17"}}))
        [finding] = [finding for item in diff.assessed if item.type == RDS for finding in item.findings
                     if finding.effect == "fails"]
        assert finding.source == rds.UPGRADE_ERROR, stack
