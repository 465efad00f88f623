"""The fifteen defects a review against the real providers and the real server found, one test each.

Each test failed on the code before its fix (``agent-server-infra`` at 8e16a37): the shipped stacks would not
deploy (1, 3), would lose their data stores' ingress on refresh (2), could not be deleted twice (4), rendered
arguments ElastiCache refuses (5-7) or RDS refuses (8, 9), collided across stacks (10), crashed on valid stack
names (11), put an ALB in front of an unreachable Service (12), and ran queue pods that never became ready or were
killed by a database failover (13, 14) and raced the API's migrations (15).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from agent_server_infra import cli, provider_rules
from agent_server_infra.errors import ConfigError
from agent_server_infra.plan.engine import RecordedResource, Recording
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.conformance import rules
from tests.conformance.conftest import Corpus
from tests.helpers import ROOT, write_modified_stack


def errors_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw, "stack.yaml")
    return [issue.render() for issue in caught.value.issues]


def with_(raw: dict[str, Any], section: str, **values: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed.setdefault(section, {}).update(values)
    return changed


def one(recording: Recording, type_: str, role: str | None = None) -> RecordedResource:
    found = [r for r in recording.by_type(type_)
             if role is None or (rules.value(r, "metadata.labels") or {}).get("app.kubernetes.io/component") == role]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_1_security_group_descriptions_use_only_the_characters_ec2_accepts(corpus: Corpus) -> None:
    recording, _ = corpus("stack:dev")
    groups = recording.by_type(rules.SG)
    assert len(groups) == 2
    for group in groups:
        description = group.plain_inputs["description"]
        assert provider_rules.SECURITY_GROUP_DESCRIPTION.problems(description) == [], description
    for rule in recording.by_type(rules.INGRESS_RULE):
        assert provider_rules.SECURITY_GROUP_RULE_DESCRIPTION.problems(rule.plain_inputs["description"]) == []


def test_2_ingress_is_only_separate_rules_and_egress_only_inline(corpus: Corpus) -> None:
    recording, _ = corpus("stack:cluster")  # client security group and CIDR: two rules per group
    for group in recording.by_type(rules.SG):
        separate = [rule for rule in recording.by_type(rules.INGRESS_RULE)
                    if rule.plain_inputs["securityGroupId"] == rules.value(group, "id")]
        assert len(separate) == 2
        assert "ingress" not in group.plain_inputs, "an inline list beside separate rules revokes them on refresh"
        assert group.plain_inputs["egress"] == []


def test_3_postgres_pins_the_major_while_rds_upgrades_minors(corpus: Corpus, raw: dict[str, Any]) -> None:
    recording, _ = corpus("stack:prod")
    db = one(recording, rules.RDS).plain_inputs
    assert (db["engineVersion"], db["autoMinorVersionUpgrade"]) == ("16", True)
    assert provider_rules.postgres_creatable(db["engineVersion"])
    found = errors_of(with_(raw, "postgres", engineVersion="16.11"))
    assert any("postgres.engineVersion" in line and "name the major only ('16')" in line for line in found), found
    retired = errors_of(with_(raw, "postgres", engineVersion="16.8", autoMinorVersionUpgrade=False))
    assert any("RDS no longer creates Postgres 16.8" in line for line in retired), retired
    assert validate_stack(with_(raw, "postgres", engineVersion="16.11", autoMinorVersionUpgrade=False))


def test_4_final_snapshot_names_change_with_every_replacement(corpus: Corpus, tmp_path: Path) -> None:
    before, _ = corpus("stack:dev")
    replaced = plan_stack(str(write_modified_stack(tmp_path, "dev", {"postgres": {"databaseName": "agents"}})))
    (tmp_path / "again").mkdir()
    again = plan_stack(str(write_modified_stack(tmp_path / "again", "dev", {})))
    snapshot = [one(recording, rules.RDS).plain_inputs["finalSnapshotIdentifier"]
                for recording in (before, replaced, again)]
    assert snapshot[0] == snapshot[2], "stable while the instance stays"
    assert snapshot[0] != snapshot[1], "a replaced instance leaves a snapshot of a new name"
    assert snapshot[0].startswith("agent-server-dev-postgres-final-")
    group = one(before, rules.GROUP).plain_inputs["finalSnapshotIdentifier"]
    suffix = next(rules.value(r, "hex") for r in before.by_type(rules.RANDOM_ID) if "redis" in r.name)
    assert group == f"agent-server-dev-redis-final-{suffix}"


def test_5_redis_6_uses_its_family_and_no_transit_encryption_mode(corpus: Corpus) -> None:
    recording, _ = corpus("variant:redis-6.2")
    assert one(recording, rules.CACHE_PARAMS).plain_inputs["family"] == "redis6.x"
    group = one(recording, rules.GROUP).plain_inputs
    assert group["engineVersion"] == "6.2"
    assert group["transitEncryptionEnabled"] is True
    assert "transitEncryptionMode" not in group
    modern, _ = corpus("variant:redis-7.0")
    assert one(modern, rules.GROUP).plain_inputs["transitEncryptionMode"] == "required"


def test_6_valkey_defaults_to_a_version_elasticache_has(corpus: Corpus) -> None:
    recording, _ = corpus("variant:valkey-default")
    group = one(recording, rules.GROUP).plain_inputs
    assert (group["engine"], group["engineVersion"]) == ("valkey", "8.0")
    assert one(recording, rules.CACHE_PARAMS).plain_inputs["family"] == "valkey8"


@pytest.mark.parametrize("version", ["7.1.0", "7", "6.x", "7.3"])
def test_7_elasticache_takes_a_known_major_minor_only(raw: dict[str, Any], version: str) -> None:
    found = errors_of(with_(raw, "redis", engineVersion=version))
    assert any("redis.engineVersion" in line for line in found), found


def test_8_storage_ceiling_is_ten_percent_above_allocation(raw: dict[str, Any]) -> None:
    for ceiling in (20, 21):
        found = errors_of(with_(raw, "postgres", allocatedStorageGb=20, maxAllocatedStorageGb=ceiling))
        assert any("postgres.maxAllocatedStorageGb: must be ≥ 22" in line for line in found), found
    assert validate_stack(with_(raw, "postgres", allocatedStorageGb=20, maxAllocatedStorageGb=22))


@pytest.mark.parametrize(("section", "daily_key", "daily", "weekly", "expected"), [
    ("postgres", "backupWindow", "03:00-03:20", "sun:04:30-sun:05:30", "postgres.backupWindow: must be at least 30"),
    ("postgres", "backupWindow", "03:00-04:00", "sun:04:30-sun:04:45", "postgres.maintenanceWindow: must be at "
     "least 30"),
    ("postgres", "backupWindow", "04:00-05:00", "sun:04:30-sun:05:30", "postgres.backupWindow: '04:00-05:00' "
     "overlaps"),
    ("postgres", "backupWindow", "23:30-00:30", "mon:00:00-mon:01:00", "overlaps"),
    ("redis", "snapshotWindow", "05:00-05:30", "sun:06:30-sun:07:30", "redis.snapshotWindow: must be at least 60"),
    ("redis", "snapshotWindow", "05:00-06:00", "sun:06:30-sun:07:00", "redis.maintenanceWindow: must be at least "
     "60"),
    ("redis", "snapshotWindow", "06:00-08:00", "sun:06:30-sun:07:30", "redis.snapshotWindow: '06:00-08:00' "
     "overlaps"),
])
def test_9_windows_are_long_enough_and_never_overlap(raw: dict[str, Any], section: str, daily_key: str, daily: str,
                                                     weekly: str, expected: str) -> None:
    found = errors_of(with_(raw, section, **{daily_key: daily, "maintenanceWindow": weekly}))
    assert any(expected in line for line in found), found


def test_10_names_unique_per_account_across_long_stack_names_and_the_example(corpus: Corpus) -> None:
    programs = ("variant:stack-long-one", "variant:stack-long-two", "example:dev", "example:prod",
                "variant:stack-upper-underscore", "variant:stack-lower-twin")
    assert rules.unique_names(corpus(program) for program in programs) == []
    one_, _ = corpus("variant:stack-long-one")
    two, _ = corpus("variant:stack-long-two")
    ids = [one(recording, rules.GROUP).plain_inputs["replicationGroupId"] for recording in (one_, two)]
    assert all(len(group_id) <= 40 for group_id in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize("stack", ["Prod_EU", "team.alpha.dev", "C" * 50 + "_" + "c" * 49])
def test_11_any_valid_stack_name_plans(stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_modified_stack(tmp_path, "prod", {}, name=stack)
    assert cli.main(["check", str(path)]) == 0
    assert cli.main(["plan", str(path), "--quiet", "--json", str(tmp_path / "plan.json")]) == 0
    recording = plan_stack(str(path), program=ROOT / "__main__.py")
    assert rules.violations(recording) == []
    identifier = one(recording, rules.RDS).plain_inputs["identifier"]
    assert identifier == identifier.lower()
    assert "_" not in identifier
    assert "." not in identifier


def test_12_alb_ingress_targets_pod_ips_with_its_health_check_under_the_prefix(corpus: Corpus) -> None:
    recording, _ = corpus("stack:prod")
    ingress = one(recording, rules.INGRESS).plain_inputs
    annotations = ingress["metadata"]["annotations"]
    assert one(recording, rules.SERVICE).plain_inputs["spec"]["type"] == "ClusterIP"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/langgraph/ok?check_db=0"
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:us-east-1:")
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert "tls" not in ingress["spec"]


@pytest.mark.parametrize("role", ["api", "queue"])
def test_13_both_roles_are_told_the_port_they_are_probed_on(corpus: Corpus, role: str) -> None:
    recording, _ = corpus("stack:dev")
    deployment = one(recording, rules.DEPLOYMENT, role)
    container = rules.value(deployment, "spec.template.spec.containers")[0]
    env = rules._env_of(recording, container)
    assert env["PORT"] == "8000"
    assert {port["name"]: int(port["containerPort"]) for port in container["ports"]} == {"http": 8000}
    assert {container[probe]["httpGet"]["port"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")} \
        == {"http"}


def test_14_queue_probes_skip_the_database_except_at_startup(corpus: Corpus) -> None:
    recording, _ = corpus("stack:prod")
    container = rules.value(one(recording, rules.DEPLOYMENT, "queue"), "spec.template.spec.containers")[0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/langgraph/ok?check_db=0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/langgraph/ok?check_db=0"
    assert container["startupProbe"]["httpGet"]["path"] == "/langgraph/ok?check_db=1"


def test_15_the_queue_rolls_out_after_the_api(corpus: Corpus) -> None:
    recording, _ = corpus("stack:staging")
    api = one(recording, rules.DEPLOYMENT, "api")
    queue = one(recording, rules.DEPLOYMENT, "queue")
    assert api.urn in queue.dependencies
    assert queue.urn not in api.dependencies
