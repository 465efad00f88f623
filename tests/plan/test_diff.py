"""`agent-server-infra diff`: real pairs of plans of the shipped stacks and of modified copies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent_server_infra import cli
from agent_server_infra.plan import diff as plan_diff
from agent_server_infra.plan.diff import PlanDiff, diff_documents, value_changes
from agent_server_infra.plan.diff_markdown import diff_markdown
from agent_server_infra.plan.document import SCHEMA_VERSION
from tests.helpers import ROOT, PlanDocument, Replace


def write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document, indent=2, sort_keys=True))
    return str(path)


def run_diff(tmp_path: Path, old: dict[str, Any], new: dict[str, Any],
             capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = cli.main(["diff", write(tmp_path / "old.json", old), write(tmp_path / "new.json", new), *extra])
    return code, capsys.readouterr().out


RDS_INSTANCE = "aws:rds/instance:Instance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"


def effects(diff: PlanDiff, type_: str | None = None) -> set[str]:
    return {effect for item in diff.assessed if type_ is None or item.type == type_ for effect in item.effects}


def messages(diff: PlanDiff, type_: str) -> list[str]:
    return [finding.message for item in diff.assessed if item.type == type_ for finding in item.findings]


# ------------------------------------------------------------------------------------------- no changes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_identical_plans_exit_0_and_print_no_changes(stack: str, plan_document: PlanDocument, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    document = plan_document(stack)
    code, out = run_diff(tmp_path, document, document, capsys, "--markdown", str(tmp_path / "diff.md"))
    assert code == 0
    assert "no changes" in out
    assert (tmp_path / "diff.md").read_text() == out


# ------------------------------------------------------------------------------------------- pool size


def test_pool_size_change_shows_only_env_and_workload_changes(plan_document: PlanDocument, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = plan_document("prod")
    after = plan_document("prod", {"server": {"postgresPoolMaxSize": 20}})
    diff = diff_documents(before, after)

    assert not diff.added
    assert not diff.removed
    assert diff.changed
    aws = [change for change in diff.changed if not change.type.startswith("kubernetes:")]
    # Only the alarm on planned connections follows the budget (its threshold and the formula it names).
    assert {(change.type, change.name) for change in aws} == {
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "agent-server-prod-postgres-connections")}
    assert {path for change in aws for path in change.paths} == {"threshold", "alarmDescription"}
    assert effects(diff) <= {"immediate", "replace"}, "the pods roll onto new ConfigMaps, nothing else"
    assert not [item for item in diff.assessed if set(item.effects) - {"immediate"} and not item.routine]
    assert {(change.role, change.name, change.before, change.after) for change in diff.env} == {
        ("api", "LANGGRAPH_POSTGRES_POOL_MAX_SIZE", "53", "20"),
        ("queue", "LANGGRAPH_POSTGRES_POOL_MAX_SIZE", "53", "20"),
    }
    postgres = [change for change in diff.budgets if change.store == "postgres"]
    assert len(postgres) == 1
    assert postgres[0].before is not None
    assert postgres[0].after is not None
    assert (postgres[0].before["per_replica"], postgres[0].after["per_replica"]) == (53, 20)
    assert not [change for change in diff.budgets if change.store == "redis"]

    code, out = run_diff(tmp_path, before, after, capsys)
    assert code == 3
    assert "[!CAUTION]" not in out
    assert "[!WARNING]" not in out
    assert "`data.LANGGRAPH_POSTGRES_POOL_MAX_SIZE`" in out
    assert "spec.template.spec.containers[0].envFrom[0].configMapRef.name" in out
    assert "53 → **20**" in out


# ------------------------------------------------------------------------------------------- replacements


def test_database_name_change_is_a_blocked_replacement(plan_document: PlanDocument, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    before = plan_document("prod")
    after = plan_document("prod", {"postgres": {"databaseName": "agents"}})
    diff = diff_documents(before, after)

    assert {"replace-delete-first", "data-loss", "fails"} <= effects(diff, RDS_INSTANCE)
    assert any(message.startswith("`dbName` langgraph → agents replaces the instance")
               for message in messages(diff, RDS_INSTANCE))
    rds_change = next(change for change in diff.changed if change.type == RDS_INSTANCE)
    # The final snapshot's random suffix is kept by the inputs that replace the instance: it moves with them.
    assert rds_change.paths == ["dbName", "finalSnapshotIdentifier"]
    assert rds_change.urn in diff.replaced
    # The URI changes with the database name: reported as a changed secret, never with a value.
    secret = [change for change in diff.env if change.name == "DATABASE_URI"]
    assert len(secret) == 1
    assert secret[0].secret
    assert secret[0].kind == "changed"

    code, out = run_diff(tmp_path, before, after, capsys)
    assert code == 4, "blocked: the database would be replaced, empty"
    assert out.index("> [!CAUTION]") < out.index("### Resources")
    assert "**Blocked: data-loss, fails.**" in out
    assert "**Way through:**" in out
    assert "| `DATABASE_URI` | all (secret) | [secret] | **changed** |" in out
    assert "langgraph@" not in out
    assert "postgresql://" not in out


def test_a_major_upgrade_without_the_flag_is_blocked_with_the_keys_to_set(plan_document: PlanDocument,
                                                                           tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = plan_document("prod")
    after = plan_document("prod", {"postgres": {"engineVersion": "17"}})
    diff = diff_documents(before, after)

    # The instance cannot take a major upgrade while allowMajorVersionUpgrade is false ...
    assert effects(diff, RDS_INSTANCE) == {"fails"}
    assert any("16 → 17 is a major upgrade" in message for message in messages(diff, RDS_INSTANCE))
    # ... and the parameter group of the new family replaces the old one (created first: it is auto-named).
    assert effects(diff, "aws:rds/parameterGroup:ParameterGroup") == {"replace"}
    assert any("`family` postgres16 → postgres17 replaces the parameter group" in message
               for message in messages(diff, "aws:rds/parameterGroup:ParameterGroup"))

    code, out = run_diff(tmp_path, before, after, capsys)
    assert code == 4
    assert "> [!CAUTION]" in out
    assert "agent-server:postgres.allowMajorVersionUpgrade: true" in out


def test_a_minor_upgrade_waits_for_the_window(plan_document: PlanDocument) -> None:
    pinned = {"postgres": {"engineVersion": "16.11", "autoMinorVersionUpgrade": False}}
    diff = diff_documents(plan_document("dev", pinned),
                          plan_document("dev", {"postgres": {**pinned["postgres"], "engineVersion": "16.13"}}))
    assert diff.has_changes
    assert effects(diff, RDS_INSTANCE) == {"deferred", "restart"}, "a minor upgrade at the maintenance window"
    assert not diff.blocked()


def test_pinning_the_major_only_is_no_downgrade(plan_document: PlanDocument) -> None:
    pinned = plan_document("dev", {"postgres": {"engineVersion": "16.11", "autoMinorVersionUpgrade": False}})
    diff = diff_documents(pinned, plan_document("dev"))
    assert "fails" not in effects(diff, RDS_INSTANCE)
    assert any("stops pinning the minor" in message for message in messages(diff, RDS_INSTANCE))
    down = diff_documents(pinned, plan_document("dev", {"postgres": {"engineVersion": "15"}}))
    assert any("downgrade" in message for message in messages(down, RDS_INSTANCE))
    assert down.blocking() == ["fails"]


def test_redis_cluster_mode_change_cannot_apply_in_place(plan_document: PlanDocument) -> None:
    diff = diff_documents(plan_document("dev"), plan_document("dev", {"redis": {"mode": "cluster", "replicas": None}}))
    assert "fails" in effects(diff, REPLICATION_GROUP)
    assert any("`clusterMode` disabled → enabled" in message for message in messages(diff, REPLICATION_GROUP))
    assert effects(diff, "aws:elasticache/parameterGroup:ParameterGroup") == {"replace"}


# ------------------------------------------------------------------------------------------- protection


def test_turning_protection_off_warns_without_blocking(plan_document: PlanDocument, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = plan_document("prod")
    after = plan_document("prod", {"postgres": {"protect": False, "deletionProtection": False},
                                   "redis": {"protect": False}})
    diff = diff_documents(before, after)

    weakening = {(item.type, finding.message) for item in diff.assessed for finding in item.findings
                 if finding.weakens}
    assert (RDS_INSTANCE, "`deletionProtection` true → false: the database can now be deleted") in weakening
    protect = {type_ for type_, message in weakening if message.startswith("Pulumi `protect` true → false")}
    assert protect == {RDS_INSTANCE, REPLICATION_GROUP}
    assert effects(diff) == {"immediate"}, "protection switches off at once, and nothing else changes"

    code, out = run_diff(tmp_path, before, after, capsys)
    assert code == 3
    assert "> [!WARNING]" in out
    assert "switch off a safety net" in out


def test_removing_a_protected_database_is_blocked_with_the_two_steps(plan_document: PlanDocument) -> None:
    after = plan_document("prod", {"postgres": Replace(mode="external", maxConnections=500),
                                   "postgresUri": {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBB="}})
    diff = diff_documents(plan_document("prod"), after)
    removed = {resource["type"] for resource in diff.removed}
    assert RDS_INSTANCE in removed
    [database] = [item for item in diff.assessed if item.type == RDS_INSTANCE]
    assert database.action == "delete"
    assert {"data-loss", "fails"} <= set(database.effects)
    refusals = [finding for finding in database.findings if finding.effect == "fails"]
    assert any("deletion protection is on" in finding.message for finding in refusals)
    assert any("Pulumi refuses to delete it" in finding.message for finding in refusals)
    markdown = diff_markdown(diff)
    assert "**Blocked: data-loss, fails.**" in markdown
    assert "agent-server:postgres.deletionProtection: false" in markdown
    assert "| − | `aws:rds/instance:Instance` |" in markdown


def test_skip_final_snapshot_and_backups_off_warn() -> None:
    def document(**inputs: Any) -> dict[str, Any]:
        return {"project": "p", "stack": "s", "deployments": [], "outputs": {}, "resources": [
            {"type": RDS_INSTANCE, "name": "db", "urn": "urn:db", "inputs": inputs, "dependencies": [],
             "protect": False, "parent": None}]}

    diff = diff_documents(document(skipFinalSnapshot=False, backupRetentionPeriod=7),
                          document(skipFinalSnapshot=True, backupRetentionPeriod=0))
    found = [finding.message for item in diff.assessed for finding in item.findings if finding.weakens]
    assert any(message.startswith("`skipFinalSnapshot` false → true") for message in found)
    assert any(message.startswith("`backupRetentionPeriod` → 0") for message in found)


# ------------------------------------------------------------------------------------------- elasticache rules


def replication_group(**inputs: Any) -> dict[str, Any]:
    base = {"replicationGroupId": "agents", "engine": "redis", "engineVersion": "7.1", "nodeType": "cache.r7g.large",
            "port": 6379, "atRestEncryptionEnabled": True, "transitEncryptionEnabled": True}
    return {"project": "p", "stack": "s", "deployments": [], "outputs": {}, "resources": [
        {"type": REPLICATION_GROUP, "name": "cache", "urn": "urn:cache", "inputs": {**base, **inputs},
         "dependencies": [], "protect": True, "parent": None}]}


REPLACED = {"replace-delete-first", "data-loss", "disruption"}


@pytest.mark.parametrize(("change", "expected", "fragment"), [
    ({"replicationGroupId": "agents-2"}, REPLACED, "`replicationGroupId`"),
    ({"port": 6380}, REPLACED, "`port` 6379 → 6380"),
    ({"atRestEncryptionEnabled": False}, REPLACED, "`atRestEncryptionEnabled`"),
    ({"kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/x"}, REPLACED, "`kmsKeyId`"),
    ({"subnetGroupName": "other"}, REPLACED, "`subnetGroupName`"),
    ({"engine": "valkey"}, {"deferred", "fails"}, "`engine` redis → valkey waits for the maintenance window"),
    ({"engineVersion": "6.2"}, REPLACED, "is a downgrade"),
    ({"nodeType": "cache.r6gd.xlarge"}, {"deferred", "fails"}, "data-tiering"),
    ({"nodeType": "cache.r7g.xlarge"}, {"deferred", "immediate"}, "scales the nodes online"),
])
def test_elasticache_update_rules(change: dict[str, Any], expected: set[str], fragment: str) -> None:
    diff = diff_documents(replication_group(), replication_group(**change))
    protected = {"fails"} if "replace-delete-first" in expected else set()  # the group is protected
    assert effects(diff) == expected | protected
    assert any(fragment in message for message in messages(diff, REPLICATION_GROUP))


def test_engine_change_other_than_redis_to_valkey_replaces() -> None:
    diff = diff_documents(replication_group(engine="valkey"), replication_group(engine="redis"))
    assert effects(diff) >= REPLACED


def test_transit_encryption_change_replaces_only_before_7_0_5() -> None:
    old = diff_documents(replication_group(engineVersion="6.2"),
                         replication_group(engineVersion="6.2", transitEncryptionEnabled=False))
    new = diff_documents(replication_group(engineVersion="7.1"),
                         replication_group(engineVersion="7.1", transitEncryptionEnabled=False))
    assert effects(old) >= REPLACED
    assert effects(new) == {"immediate"}


# ------------------------------------------------------------------------------------------- secrets


def test_secret_values_never_appear_even_in_plans_with_secrets_shown(plan_document: PlanDocument, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = plan_document("prod", show_secrets=True)
    after = plan_document("prod", {"postgres": {"databaseName": "agents"}}, show_secrets=True)
    uri_before = before["deployments"][0]["secretEnv"]["DATABASE_URI"]
    uri_after = after["deployments"][0]["secretEnv"]["DATABASE_URI"]
    assert uri_before != uri_after
    password = uri_before.split(":")[2].split("@")[0]
    _code, out = run_diff(tmp_path, before, after, capsys)
    for secret in (uri_before, uri_after, password):
        assert secret not in out
    assert "| `DATABASE_URI` | all (secret) | [secret] | **changed** |" in out


def test_plans_without_fingerprints_still_say_a_secret_changed(plan_document: PlanDocument) -> None:
    before = plan_document("prod")
    after = plan_document("prod", {"postgres": {"databaseName": "agents"}})
    for document in (before, after):
        for deployment in document["deployments"]:
            deployment.pop("secretEnvFingerprints")
    diff = diff_documents(before, after)
    assert not [change for change in diff.env if change.secret]
    assert diff.secrets_maybe_changed == ["agent-server-prod"]
    assert "the generated Secret changed" in diff_markdown(diff)


# ------------------------------------------------------------------------------------------- paths and files


def test_changed_inputs_are_reported_as_dotted_and_indexed_paths() -> None:
    before = {"spec": {"template": {"spec": {"containers": [{"image": "a:1", "args": ["x"]}]}}},
              "metadata": {"labels": {"app.kubernetes.io/name": "a"}}}
    after = {"spec": {"template": {"spec": {"containers": [{"image": "a:2", "args": ["x", "y"]}]}}},
             "metadata": {"labels": {"app.kubernetes.io/name": "b"}}}
    changes = {change.path: (change.kind, change.before, change.after) for change in value_changes(before, after)}
    assert changes == {
        "spec.template.spec.containers[0].image": ("changed", "a:1", "a:2"),
        "spec.template.spec.containers[0].args[1]": ("added", None, "y"),
        'metadata.labels["app.kubernetes.io/name"]': ("changed", "a", "b"),
    }


def test_bad_input_files_exit_1_or_2(plan_document: PlanDocument, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.json", plan_document("dev"))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": "world"}))
    (tmp_path / "future.json").write_text(json.dumps({**plan_document("dev"), "schemaVersion": SCHEMA_VERSION + 1}))
    (tmp_path / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert cli.main(["diff", str(tmp_path / "missing.json"), good]) == 1
    assert cli.main(["diff", good, str(tmp_path / "binary.json")]) == 2
    assert cli.main(["diff", str(tmp_path), good]) == 2
    assert cli.main(["diff", good, str(tmp_path / "broken.json")]) == 2
    assert cli.main(["diff", str(tmp_path / "other.json"), good]) == 2
    assert cli.main(["diff", good, str(tmp_path / "future.json")]) == 2
    err = capsys.readouterr().err
    assert "missing.json" in err
    assert "not JSON" in err
    assert "not a plan document" in err
    assert "schema version" in err
    assert "binary.json: not a plan document (not UTF-8 text" in err
    assert f"{tmp_path} is a directory, not a plan document" in err


def test_diff_reads_the_schema_the_document_writes() -> None:
    assert plan_diff.SCHEMA_VERSION == SCHEMA_VERSION


def test_diff_loads_neither_pulumi_nor_pydantic(plan_document: PlanDocument, tmp_path: Path) -> None:
    path = write(tmp_path / "plan.json", plan_document("dev"))
    probe = ("import sys; from agent_server_infra import cli;"
             "code = cli.main(['diff', '-q', sys.argv[1], sys.argv[1]]);"
             "print(code, sorted(m for m in ('pulumi', 'pydantic', 'rich') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe, path], capture_output=True, text=True, cwd=ROOT,
                            check=True)
    assert result.stdout.strip() == "0 []"


def test_diff_exit_codes_from_the_command_line(plan_document: PlanDocument, tmp_path: Path) -> None:
    """The console script (which ends without interpreter teardown) prints everything and exits 0 / 3."""
    old = write(tmp_path / "old.json", plan_document("prod"))
    new = write(tmp_path / "new.json", plan_document("prod", {"server": {"postgresPoolMaxSize": 20}}))
    command = str(Path(sys.executable).with_name("agent-server-infra"))
    same = subprocess.run([command, "diff", old, old], capture_output=True, text=True, cwd=ROOT, check=False)
    changed = subprocess.run([command, "diff", old, new, "--markdown", str(tmp_path / "d.md")],
                             capture_output=True, text=True, cwd=ROOT, check=False)
    assert (same.returncode, same.stdout.strip().splitlines()[-1]) == (0, "no changes")
    assert changed.returncode == 3
    assert changed.stdout == (tmp_path / "d.md").read_text()
    assert changed.stdout.endswith("\n")
    assert "### Connection budget" in changed.stdout


def test_backlog_back_to_cpu_is_flagged_and_cpu_to_backlog_is_not(plan_document: PlanDocument) -> None:
    """Back to CPU, Pulumi would create the queue's HPA while KEDA's of the same name still exists; the other way
    KEDA adopts the old HPA, so that diff has no warning."""
    backlog = plan_document("prod")
    queue = {"replicas": 3, "maxReplicas": 12, "cpu": "2", "memory": "4Gi", "memoryLimit": "4Gi"}
    cpu = plan_document("prod", {"server": {"queue": Replace(queue)}})
    back = diff_documents(backlog, cpu)
    [risk] = [(item.type, finding) for item in back.assessed for finding in item.findings
              if finding.effect == "fails"]
    assert risk[0] == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
    assert risk[1].way.startswith("two updates")
    forward = diff_documents(cpu, backlog)
    assert {r["type"] for r in forward.removed} == {"kubernetes:autoscaling/v2:HorizontalPodAutoscaler"}
    assert not forward.blocked()
