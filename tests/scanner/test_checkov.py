"""Checkov on the prod stack finds nothing beyond the documented choices (``accepted.yaml``).

Checkov runs from its own locked environment (``tests/scanner/env``, synced by ``.ci/install-services.sh``) as a
separate process, offline (``--skip-download``, no update check): on the Kubernetes manifests ``plan --manifests``
writes (framework ``kubernetes``) and on the AWS resources as a Terraform plan document (framework
``terraform_plan``, :mod:`tests.scanner.terraform_plan`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_server_infra.plan.manifests import write_manifests
from agent_server_infra.plan.stack import plan_stack
from tests.helpers import ROOT
from tests.scanner.terraform_plan import unknown_types, write_terraform_plan

HERE = Path(__file__).parent
CHECKOV = HERE / "env" / ".venv" / "bin" / "checkov"
ACCEPTED = HERE / "accepted.yaml"
FRAMEWORKS = ("kubernetes", "terraform_plan")
OFFLINE = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
"""No call to Prisma Cloud for guidelines and none to PyPI for a newer Checkov."""


@dataclass(frozen=True)
class Finding:
    framework: str
    check: str
    resource: str
    name: str


@dataclass(frozen=True)
class Scan:
    findings: list[Finding]
    summaries: dict[str, dict[str, Any]]


def accepted() -> list[dict[str, str]]:
    return list(yaml.safe_load(ACCEPTED.read_text()))


def is_accepted(finding: Finding, entries: list[dict[str, str]]) -> bool:
    return any(entry["check"] == finding.check and fnmatch.fnmatchcase(finding.resource, entry["resource"])
               for entry in entries)


def run_checkov(directory: Path, plan: Path) -> Scan:
    if not CHECKOV.exists():
        pytest.fail(f"Checkov is not installed: run `uv sync --project {CHECKOV.parents[2].relative_to(ROOT)} "
                    "--locked` (.ci/install-services.sh does)")
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "-f", str(plan), "--framework", *FRAMEWORKS, "--skip-download",
         "--compact", "--quiet", "-o", "json"],
        capture_output=True, text=True, timeout=240, env={**os.environ, **OFFLINE}, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: findings
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    findings = [Finding(report["check_type"], failed["check_id"], failed["resource"], failed["check_name"])
                for report in reports for failed in report["results"]["failed_checks"]]
    return Scan(findings=findings, summaries={report["check_type"]: report["summary"] for report in reports})


@pytest.fixture(scope="module")
def prod_scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    recording = plan_stack(str(ROOT / "stacks" / "Pulumi.prod.yaml"))
    assert not unknown_types(recording), "add the Terraform type of each new AWS resource to TERRAFORM_TYPES"
    directory = tmp_path_factory.mktemp("prod-scan")
    manifests = directory / "manifests"
    write_manifests(recording.resources, manifests)
    return run_checkov(manifests, write_terraform_plan(recording, directory / "prod.tfplan.json"))


def test_checkov_scanned_both_frameworks(prod_scan: Scan) -> None:
    assert set(prod_scan.summaries) == set(FRAMEWORKS)
    for framework, summary in prod_scan.summaries.items():
        assert summary["parsing_errors"] == 0, framework
        assert summary["passed"] > 50, (framework, summary)
    assert prod_scan.summaries["terraform_plan"]["resource_count"] >= 20, "every AWS resource reached Checkov"


def test_prod_has_no_finding_beyond_the_documented_choices(prod_scan: Scan) -> None:
    entries = accepted()
    unexpected = [f"{f.check} {f.resource}: {f.name}" for f in prod_scan.findings if not is_accepted(f, entries)]
    assert not unexpected, "fix these in the components or document them in tests/scanner/accepted.yaml:\n" + \
        "\n".join(unexpected)


def test_every_documented_choice_is_still_a_finding(prod_scan: Scan) -> None:
    stale = [f"{entry['check']} {entry['resource']}" for entry in accepted()
             if not any(is_accepted(finding, [entry]) for finding in prod_scan.findings)]
    assert not stale, f"no longer found, remove from accepted.yaml: {stale}"


def test_each_documented_choice_has_one_line_of_reason() -> None:
    for entry in accepted():
        assert set(entry) == {"check", "resource", "reason"}, entry
        assert entry["reason"].strip(), entry
        assert "\n" not in entry["reason"].strip(), entry


def test_an_undocumented_finding_fails(prod_scan: Scan) -> None:
    finding = Finding("kubernetes", "CKV_K8S_99", "Deployment.agents.x", "made up")
    assert not is_accepted(finding, accepted())
    assert all(is_accepted(f, accepted()) for f in prod_scan.findings)
