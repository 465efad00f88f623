"""What an update of an RDS instance or of its parameter group does.

pulumi-aws bridges terraform-provider-aws v6: ``internal/service/rds/instance.go`` decides what replaces the
instance (schema ``ForceNew``; its ``CustomizeDiff`` forces nothing new) and sends every other change in one
``ModifyDBInstance`` call with ``ApplyImmediately = apply_immediately`` (``resourceInstanceUpdate``,
``dbInstancePopulateModify``); the RDS User Guide's "Settings for DB instances" table says which settings AWS then
defers to the maintenance window and which cause downtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..provider_rules import GP3_PROVISIONED_MINIMUM_GB, POSTGRES_AUTO_UPGRADE_MINORS, POSTGRES_AUTO_UPGRADE_SOURCE
from ..versions import parse_version
from . import Finding
from .common import change_text, config_key, downgrade, parameter_group_replacement, show, value, version_parts

INSTANCE_GO = ("terraform-provider-aws internal/service/rds/instance.go (v6): resourceInstance schema, "
               "resourceInstanceUpdate, dbInstancePopulateModify")
SETTINGS_GUIDE = ("Amazon RDS User Guide, 'Settings for DB instances' (USER_ModifyInstance.Settings: when each change "
                  "occurs and its downtime notes)")
PARAMETER_GROUP_GO = ("terraform-provider-aws internal/service/rds/parameter_group.go: family, name, name_prefix and "
                      "description are ForceNew; resourceParameterGroupDelete retries InvalidDBParameterGroupState "
                      "for 3 minutes")
PARAMETERS_GUIDE = ("Amazon RDS User Guide, 'Working with DB parameter groups' and 'Rebooting a DB instance': "
                    "pending-reboot values apply only after a manual reboot (the maintenance window does not reboot "
                    "for them); a newly associated group's values apply after a reboot")
BLUE_GREEN_GO = ("terraform-provider-aws internal/service/rds/instance.go resourceInstanceUpdate and blue_green.go "
                 "(instanceHandler): with blue_green_update every change but deletion protection, password, tags "
                 "and provider-only arguments goes through a blue/green deployment, applied immediately, then the "
                 "old instance is deleted with SkipFinalSnapshot")
BLUE_GREEN_REPLICATION = ("Amazon RDS User Guide, 'Replication methods for blue/green deployments': RDS for PostgreSQL "
                          "uses physical replication, and logical replication for a major version upgrade, which "
                          "needs rds.logical_replication = 1 on the blue instance (AWS: 'Blue/Green Deployments "
                          "require a DB instance with logical replication enabled')")
DELETE_GO = ("terraform-provider-aws internal/service/rds/instance.go resourceInstanceDelete: AWS answers "
             "'InvalidParameterCombination: Cannot delete protected DB Instance, please disable deletion protection "
             "and try again'; the provider lifts protection itself only when the state it deletes has it off")
UPGRADE_ERROR = ("AWS RDS API reference, ModifyDBInstance AllowMajorVersionUpgrade ('must be set to true when "
                 "specifying a value for the EngineVersion parameter that is a different major version'); error "
                 "'InvalidParameterCombination: The AllowMajorVersionUpgrade flag must be present when upgrading to a "
                 "new major version'")
ENGINE_VERSION_READ = ("terraform-provider-aws internal/service/rds compareActualEngineVersion: a configured version "
                       "that is not a prefix of the running one is planned as a change, which AWS refuses as "
                       "'Cannot upgrade postgres from <running> to <configured>'")
STORAGE_GUIDE = ("Amazon RDS User Guide, 'Amazon RDS DB instance storage' (gp3: below 400 GiB RDS fixes 3,000 IOPS / "
                 "125 MiB/s; io1/io2 need provisioned IOPS) and 'Settings for DB instances' (storage cannot shrink; "
                 "one storage change per six hours)")

Timing = Literal["apply-immediately", "immediate", "state"]
"""``apply-immediately``: at once with ``applyImmediately``, else at the maintenance window; ``immediate``: AWS applies
it at once whatever ``applyImmediately`` says; ``state``: the provider's own argument, nothing is sent to AWS."""


@dataclass(frozen=True)
class Setting:
    """How one instance input is applied (RDS User Guide, 'Settings for DB instances')."""

    timing: Timing
    restart: bool = False
    note: str = ""


SETTINGS: dict[str, Setting] = {
    "instanceClass": Setting("apply-immediately", True, "downtime occurs during this change (Multi-AZ: a failover)"),
    "allocatedStorage": Setting("apply-immediately", False, "no downtime; one storage change per six hours"),
    "storageType": Setting("apply-immediately", True, "a brief downtime while the change starts"),
    "iops": Setting("apply-immediately"),
    "storageThroughput": Setting("apply-immediately"),
    "multiAz": Setting("apply-immediately", False, "no downtime, a possible performance impact"),
    "engineVersion": Setting("apply-immediately", True, "downtime occurs during this change"),
    "iamDatabaseAuthenticationEnabled": Setting("apply-immediately"),
    "caCertIdentifier": Setting("apply-immediately", True, "downtime unless the engine rotates certificates without "
                                                           "a restart"),
    "identifier": Setting("apply-immediately", True, "the instance is renamed: its endpoint changes"),
    "dbSubnetGroupName": Setting("apply-immediately", True, "the instance moves subnets: downtime"),
    "networkType": Setting("apply-immediately", True, "downtime is possible"),
    "optionGroupName": Setting("apply-immediately"),
    "autoMinorVersionUpgrade": Setting("immediate"),
    "backupWindow": Setting("immediate"),
    "maintenanceWindow": Setting("immediate"),
    "parameterGroupName": Setting("immediate", False, "the group is associated at once; its values apply after a "
                                                      "reboot"),
    "performanceInsightsEnabled": Setting("immediate"),
    "performanceInsightsKmsKeyId": Setting("immediate"),
    "performanceInsightsRetentionPeriod": Setting("immediate"),
    "monitoringInterval": Setting("immediate"),
    "monitoringRoleArn": Setting("immediate"),
    "deletionProtection": Setting("immediate"),
    "vpcSecurityGroupIds": Setting("immediate"),
    "publiclyAccessible": Setting("immediate"),
    "port": Setting("immediate", True, "the instance is rebooted at once"),
    "copyTagsToSnapshot": Setting("immediate"),
    "enabledCloudwatchLogsExports": Setting("immediate"),
    "maxAllocatedStorage": Setting("immediate"),
    "password": Setting("immediate"),
    "allowMajorVersionUpgrade": Setting("state"),
    "applyImmediately": Setting("state"),
    "blueGreenUpdate": Setting("state"),
    "deleteAutomatedBackups": Setting("state"),
    "finalSnapshotIdentifier": Setting("state"),
    "skipFinalSnapshot": Setting("state"),
    "tags": Setting("state"),
}
"""Every instance input the components send, by when AWS applies a change of it."""

REPLACES: dict[str, str] = {
    "engine": "the engine", "dbName": "the initial database", "username": "the master user",
    "kmsKeyId": "the storage encryption key", "storageEncrypted": "encryption at rest",
    "availabilityZone": "the availability zone", "characterSetName": "the character set",
    "ncharCharacterSetName": "the national character set", "timezone": "the time zone",
    "snapshotIdentifier": "the snapshot it is restored from", "restoreToPointInTime": "the restore point",
    "s3Import": "the S3 import", "customIamInstanceProfile": "the RDS Custom instance profile",
    "backupTarget": "the backup target",
}
"""Inputs the v6 schema marks ``ForceNew``: a change replaces the instance with a new, empty one."""

BLUE_GREEN_EXEMPT = frozenset({"allowMajorVersionUpgrade", "blueGreenUpdate", "deleteAutomatedBackups",
                               "finalSnapshotIdentifier", "skipFinalSnapshot", "tags", "deletionProtection",
                               "password", "applyImmediately"})
"""Changes that never start a blue/green deployment (``resourceInstanceUpdate``'s ``HasChangesExcept`` list)."""
STATIC_PARAMETERS = frozenset({"max_connections", "rds.logical_replication", "shared_buffers",
                               "shared_preload_libraries", "max_worker_processes", "max_wal_senders"})
"""RDS for PostgreSQL parameters of apply type static (RDS User Guide, 'Working with parameters on your RDS for
PostgreSQL DB instance'): they take effect only after a reboot."""
IO_TYPES = frozenset({"io1", "io2"})


def instance_findings(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    """The findings of an update of an RDS instance whose changed top-level inputs are ``paths``."""
    replaced = [key for key in REPLACES if key in paths]
    if replaced:
        return [Finding("replace-delete-first", ", ".join(change_text(old, new, key) for key in replaced)
                        + f" replaces the instance ({', '.join(REPLACES[key] for key in replaced)} cannot change in "
                        "place); its identifier is set by the component, so the old one is deleted first",
                        source=INSTANCE_GO)]
    findings: list[Finding] = []
    blue_green = bool((value(new, "blueGreenUpdate") or {}).get("enabled")) and bool(paths - BLUE_GREEN_EXEMPT)
    findings += _engine_version(old, new, paths, blue_green)
    findings += _storage(old, new, paths)
    if blue_green:
        findings += _blue_green(old, new, paths)
    else:
        findings += _settings(old, new, paths)
    findings += _identity(old, new, paths)
    return findings


def _deferred(new: Mapping[str, Any]) -> bool:
    return not value(new, "applyImmediately")


def _settings(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    deferred = _deferred(new)
    for key in sorted(paths):
        setting = SETTINGS.get(key, Setting("apply-immediately"))
        if key == "engineVersion" or (key == "allocatedStorage" and _shrinks(old, new)):
            continue  # judged on their own: major, minor, downgrade; a smaller volume
        change = change_text(old, new, key)
        note = f" ({setting.note})" if setting.note else ""
        timing = setting.timing
        if key == "backupRetentionPeriod":
            before, after = value(old, key) or 0, value(new, key) or 0
            if (before == 0) != (after == 0):
                setting = Setting("apply-immediately", True, "turning backups on or off restarts the instance")
                note = f" ({setting.note})"
            else:
                timing = "immediate"
        if timing == "apply-immediately" and deferred:
            findings.append(Finding("deferred", f"{change} waits for the maintenance window{note}",
                                    f"set {config_key('postgres.applyImmediately')}: true to apply it during "
                                    "`pulumi up`", SETTINGS_GUIDE))
        else:
            findings.append(Finding("immediate", f"{change}{note}", source=SETTINGS_GUIDE if timing != "state" else
                                    INSTANCE_GO))
        if setting.restart:
            findings.append(Finding("restart", f"{change}: {setting.note or 'the instance restarts'}"
                                    + (" at the maintenance window" if timing == "apply-immediately" and deferred
                                       else ""), source=SETTINGS_GUIDE))
        if key == "parameterGroupName":
            findings.append(Finding("needs-reboot", f"{change}: the new group's values apply only after a reboot "
                                    "(the instance shows pending-reboot)", "reboot the instance in a quiet moment "
                                    "(`aws rds reboot-db-instance`)", PARAMETERS_GUIDE))
    return findings


def _engine_version(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str],
                    blue_green: bool) -> list[Finding]:
    if "engineVersion" not in paths:
        return []
    before, after = str(value(old, "engineVersion") or ""), str(value(new, "engineVersion") or "")
    change = f"`engineVersion` {before} → {after}"
    old_v, new_v = parse_version(before), parse_version(after)
    if downgrade(before, after):
        return [Finding("fails", f"{change} is a downgrade: RDS cannot downgrade an instance (AWS answers 'Cannot "
                        f"upgrade postgres from {before} to {after}')", "keep the running version; only a restore "
                        "into a new instance goes back", ENGINE_VERSION_READ)]
    if new_v[0] == old_v[0]:
        pin = _pin_below_running(before, after)
        if pin:
            return [Finding("fails", f"{change}: {pin}", f"pin {POSTGRES_AUTO_UPGRADE_MINORS.get(new_v[0], '')} or "
                            "newer, or keep the major alone", f"{ENGINE_VERSION_READ}; {POSTGRES_AUTO_UPGRADE_SOURCE}")]
        if "." not in after:
            return [Finding("immediate", f"{change} stops pinning the minor (the running minor matches the major "
                            "prefix: nothing is sent)", source=ENGINE_VERSION_READ)]
        return _timed(change, new, blue_green, "a minor upgrade")
    if not value(new, "allowMajorVersionUpgrade") and not blue_green:
        return [Finding("fails", f"{change} is a major upgrade and `allowMajorVersionUpgrade` is false: AWS refuses "
                        "the ModifyDBInstance call", f"set {config_key('postgres.allowMajorVersionUpgrade')}: true "
                        f"and {config_key('postgres.applyImmediately')}: true (or postgres.blueGreenUpdate: true)",
                        UPGRADE_ERROR)]
    if blue_green:
        return _timed(change, new, True, "a major upgrade")
    if _deferred(new):
        return [Finding("deferred", f"{change} is queued for the maintenance window with the new parameter group",
                        source=SETTINGS_GUIDE),
                Finding("fails", f"{change}: the instance keeps its postgres{old_v[0]} parameter group until the "
                        "upgrade runs, but `pulumi up` deletes that group now (InvalidDBParameterGroupState: 'One or "
                        "more database instances are still members of this parameter group')",
                        f"set {config_key('postgres.applyImmediately')}: true: the upgrade then runs during `pulumi "
                        "up`, before the old group is deleted", PARAMETER_GROUP_GO)]
    return _timed(change, new, False, "a major upgrade")


def _timed(change: str, new: Mapping[str, Any], blue_green: bool, what: str) -> list[Finding]:
    if blue_green:
        return [Finding("immediate", f"{change}: {what} through a blue/green deployment", source=BLUE_GREEN_GO),
                Finding("restart", f"{change}: the switchover to the upgraded copy takes about a minute of "
                        "downtime", source=BLUE_GREEN_GO)]
    if _deferred(new):
        return [Finding("deferred", f"{change}: {what} at the maintenance window",
                        f"set {config_key('postgres.applyImmediately')}: true to upgrade during `pulumi up`",
                        SETTINGS_GUIDE),
                Finding("restart", f"{change}: the database is down until the upgrade completes (at the window)",
                        source=SETTINGS_GUIDE)]
    return [Finding("immediate", f"{change}: {what} during `pulumi up`", source=SETTINGS_GUIDE),
            Finding("restart", f"{change}: the database is down until the upgrade completes (Multi-AZ upgrades both "
                    "instances at once)", source=SETTINGS_GUIDE)]


def _pin_below_running(before: str, after: str) -> str:
    """Why pinning ``after`` where ``before`` named the major alone goes below what RDS runs ('' when it does not):
    RDS has moved every instance of the major to its auto-upgrade target or a newer minor."""
    if "." in before or "." not in after:
        return ""
    major = version_parts(after)[0]
    target = POSTGRES_AUTO_UPGRADE_MINORS.get(major)
    if target is None or version_parts(after) >= version_parts(target):
        return ""
    return (f"the instance runs {target} or newer (RDS upgrades minors while only the major was named), so {after} "
            "is a downgrade AWS refuses on every `pulumi up`")


def _shrinks(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return (value(new, "allocatedStorage") or 0) < (value(old, "allocatedStorage") or 0)


def _storage(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    storage_type = value(new, "storageType") or "gp2"
    if {"storageType", "iops"} & paths and storage_type in IO_TYPES and not value(new, "iops"):
        findings.append(Finding("fails", f"`storageType` {storage_type} needs provisioned `iops`",
                                f"set {config_key('postgres.iops')}", STORAGE_GUIDE))
    allocated = value(new, "allocatedStorage") or 0
    if storage_type == "gp3" and (value(new, "iops") or value(new, "storageThroughput")) and \
            allocated < GP3_PROVISIONED_MINIMUM_GB:
        findings.append(Finding("fails", f"gp3 `iops`/`storageThroughput` on {allocated} GiB: AWS takes them only "
                                f"from {GP3_PROVISIONED_MINIMUM_GB} GiB ('You can't specify IOPS or storage throughput "
                                "for engine postgres and a storage size less than 400')",
                                f"raise {config_key('postgres.allocatedStorageGb')} or unset postgres.iops",
                                STORAGE_GUIDE))
    if "allocatedStorage" in paths and _shrinks(old, new):
        before = value(old, "allocatedStorage") or 0
        if (value(new, "maxAllocatedStorage") or 0) > allocated:
            findings.append(Finding("immediate", f"`allocatedStorage` {before} → {allocated}: nothing is sent (with "
                                    "storage autoscaling on, the provider hides a decrease; RDS keeps the volume)",
                                    source=INSTANCE_GO))
        else:
            findings.append(Finding("fails", f"`allocatedStorage` {before} → {allocated} GiB: RDS cannot shrink "
                                    "storage", f"keep {config_key('postgres.allocatedStorageGb')}: {before} (a "
                                    "smaller volume needs a new instance restored from a dump)", STORAGE_GUIDE))
    return findings


def _blue_green(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    changes = ", ".join(f"`{key}`" for key in sorted(paths - BLUE_GREEN_EXEMPT - {"engineVersion"}))
    findings: list[Finding] = []
    if changes:
        findings += [Finding("immediate", f"{changes} through a blue/green deployment (a synchronised copy, then a "
                             "switchover), whatever applyImmediately says", source=BLUE_GREEN_GO),
                     Finding("restart", f"{changes}: the switchover takes about a minute of downtime",
                             source=BLUE_GREEN_GO)]
    major = "engineVersion" in paths and version_parts(str(value(old, "engineVersion") or "0"))[:1] \
        != version_parts(str(value(new, "engineVersion") or "0"))[:1]
    if major and not (value(old, "blueGreenUpdate") or {}).get("enabled"):
        findings.append(Finding("fails", "blue/green is turned on in the same update as a major upgrade: RDS for "
                                "PostgreSQL replicates a major upgrade logically, which needs rds.logical_replication "
                                "active, and the parameter group only gets it now (it applies after a reboot)",
                                "two steps: turn postgres.blueGreenUpdate on alone, reboot the instance "
                                "(`aws rds reboot-db-instance`), then upgrade", BLUE_GREEN_REPLICATION))
    if (value(new, "backupRetentionPeriod") or 0) == 0:
        findings.append(Finding("fails", "a blue/green deployment needs automated backups (backup retention 0)",
                                f"set {config_key('postgres.backupRetentionDays')} above 0", BLUE_GREEN_GO))
    findings.append(Finding("immediate", "after the switchover the old instance is deleted without a final snapshot "
                            "(take a manual one first if you may need to go back); its endpoint stays, its resource "
                            "id changes", source=BLUE_GREEN_GO))
    return findings


def _identity(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    if "identifier" in paths:
        findings.append(Finding("disruption", f"{change_text(old, new, 'identifier')} renames the instance: its "
                                "endpoint changes, and the server reaches the new one only once its pods roll after "
                                "the rename",
                                "keep the identifier: pin agent-server:naming.name to the name the stores were "
                                "created with", SETTINGS_GUIDE))
    if value(old, "deletionProtection") is True and value(new, "deletionProtection") is not True:
        findings.append(Finding("immediate", "`deletionProtection` true → false: the database can now be deleted",
                                source=SETTINGS_GUIDE, weakens=True))
    if value(old, "skipFinalSnapshot") is not True and value(new, "skipFinalSnapshot") is True:
        findings.append(Finding("immediate", "`skipFinalSnapshot` false → true: deleting the instance keeps no final "
                                "snapshot", source=INSTANCE_GO, weakens=True))
    if (value(old, "backupRetentionPeriod") or 0) > 0 and (value(new, "backupRetentionPeriod") or 0) == 0:
        findings.append(Finding("immediate", "`backupRetentionPeriod` → 0: automated backups are switched off",
                                source=SETTINGS_GUIDE, weakens=True))
    return findings


def parameter_group_findings(old: Mapping[str, Any], new: Mapping[str, Any], paths: set[str]) -> list[Finding]:
    """An RDS parameter group: a new family, name or description replaces it (auto-named: the new one first); a
    changed parameter applies at once when dynamic, after a reboot when static."""
    replaced = parameter_group_replacement(old, new, paths, ("family", "name", "namePrefix", "description"),
                                           "the instance", PARAMETER_GROUP_GO)
    if replaced:
        return replaced
    findings: list[Finding] = []
    before = {item["name"]: item for item in value(old, "parameters") or []}
    after = {item["name"]: item for item in value(new, "parameters") or []}
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name, {}).get("value"), after.get(name, {}).get("value")
        if a == b:
            continue
        change = f"parameter `{name}` {show(a)} → {show(b)}"
        static = name in STATIC_PARAMETERS or (after.get(name) or before.get(name, {})).get("applyMethod") == \
            "pending-reboot"
        if static:
            findings.append(Finding("needs-reboot", f"{change} is static: the instance takes it only at its next "
                                    "reboot, which the maintenance window does not do", "reboot the instance "
                                    "(`aws rds reboot-db-instance`) once `pulumi up` is done", PARAMETERS_GUIDE))
        else:
            findings.append(Finding("immediate", f"{change} applies at once (a dynamic parameter)",
                                    source=PARAMETERS_GUIDE))
    return findings or [Finding("immediate", "updated in place", source=PARAMETER_GROUP_GO)]
