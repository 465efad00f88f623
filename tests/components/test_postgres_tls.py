"""``postgres.caBundle``: the server verifies its database (``sslmode=verify-full``) against the RDS CA bundle,
mounted from a ConfigMap into both roles and the bootstrap Job; without it the URI stays ``sslmode=require``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pulumi
import pytest

from agent_server_infra import AgentServer, AgentServerArgs
from agent_server_infra.env import POSTGRES_CA_DIR, POSTGRES_CA_FILE, POSTGRES_CA_PATH
from agent_server_infra.errors import ConfigError
from agent_server_infra.inputs import args_from_config
from agent_server_infra.plan import engine
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.validate import validate_stack
from tests.helpers import ROOT, write_modified_stack

PEM = ("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUStandInRdsCaBundleForTests0wCgYIKoZIzj0EAwIw\n"
       "-----END CERTIFICATE-----\n")
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
IAM = {"iamAuthentication": True}
ROLE = "arn:aws:iam::123456789012:role/agents-server"


def with_postgres(raw: dict[str, Any], **postgres: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed["postgres"].update(postgres)
    return changed


def run(raw: dict[str, Any], bundle: Any = PEM) -> engine.Recording:
    def program() -> None:
        args = args_from_config(raw)
        if bundle is not None:
            args["postgres"]["ca_bundle"] = bundle
        AgentServer("agents", cast(AgentServerArgs, args))

    return engine.run(program)


def server_uri(recording: engine.Recording) -> str:
    [secret] = [r for r in recording.by_type(SECRET) if "DATABASE_URI" in (r.plain_inputs.get("stringData") or {})]
    return str(secret.plain_inputs["stringData"]["DATABASE_URI"])


def ca_config_map(recording: engine.Recording) -> engine.RecordedResource:
    [config_map] = [c for c in recording.by_type(CONFIG_MAP) if POSTGRES_CA_FILE in (c.plain_inputs.get("data") or {})]
    return config_map


def mounted(recording: engine.Recording, resource: engine.RecordedResource) -> bool:
    """Whether the pod of ``resource`` mounts the CA ConfigMap read-only at the directory the URI names."""
    spec = resource.plain_inputs["spec"]
    pod = (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]
    name = ca_config_map(recording).outputs["metadata"]["name"]
    volumes = {v["name"] for v in pod.get("volumes") or [] if (v.get("configMap") or {}).get("name") == name}
    return all(any(m["name"] in volumes and m["mountPath"] == POSTGRES_CA_DIR and m.get("readOnly")
                   for m in container.get("volumeMounts") or []) for container in pod["containers"])


def test_with_a_bundle_the_server_verifies_the_database(raw: dict[str, Any]) -> None:
    recording = run(raw)
    query = parse_qs(urlsplit(server_uri(recording)).query)
    assert query["sslmode"] == ["verify-full"]
    assert query["sslrootcert"] == [POSTGRES_CA_PATH]
    config_map = ca_config_map(recording)
    assert config_map.plain_inputs["data"] == {POSTGRES_CA_FILE: PEM}
    assert config_map.inputs["immutable"] is True, "a new bundle replaces it under a new name: the pods roll"
    assert "name" not in config_map.inputs["metadata"]
    deployments = recording.by_type(DEPLOYMENT)
    assert len(deployments) == 2
    assert all(mounted(recording, deployment) for deployment in deployments)


def test_a_bundle_from_other_infrastructure_is_an_input(raw: dict[str, Any]) -> None:
    recording = run(raw, pulumi.Output.from_input(PEM))
    assert ca_config_map(recording).plain_inputs["data"] == {POSTGRES_CA_FILE: PEM}


def test_without_a_bundle_the_uri_stays_require_and_nothing_is_mounted(raw: dict[str, Any]) -> None:
    recording = run(raw, None)
    assert parse_qs(urlsplit(server_uri(recording)).query) == {"sslmode": ["require"]}
    assert not [c for c in recording.by_type(CONFIG_MAP) if POSTGRES_CA_FILE in (c.plain_inputs.get("data") or {})]


def test_the_bootstrap_job_verifies_too(raw: dict[str, Any]) -> None:
    changed = with_postgres(raw, **IAM)
    changed["server"].update(serviceAccountRoleArn=ROLE)
    recording = run(changed)
    [job] = recording.by_type(JOB)
    assert mounted(recording, job)
    [secret] = [r for r in recording.by_type(SECRET) if "AGENT_SERVER_BOOTSTRAP_URI" in
                (r.plain_inputs.get("stringData") or {})]
    query = parse_qs(urlsplit(secret.plain_inputs["stringData"]["AGENT_SERVER_BOOTSTRAP_URI"]).query)
    assert (query["sslmode"], query["sslrootcert"]) == (["verify-full"], [POSTGRES_CA_PATH])
    server = parse_qs(urlsplit(server_uri(recording)).query)
    assert server["sslmode"] == ["verify-full"], "the passwordless IAM URI verifies as well"


def test_the_stuck_runs_check_verifies_too(raw: dict[str, Any]) -> None:
    changed = copy.deepcopy(raw)
    changed["server"]["stuckRuns"] = {"afterSeconds": 900}
    recording = run(changed)
    [cronjob] = recording.by_type(CRONJOB)
    [container] = cronjob.plain_inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert [item["secretRef"] for item in container["envFrom"]], "it reads the server's Secret: the verify-full URI"
    assert mounted(recording, cronjob)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"server": {"queue": {"replicas": 1, "maxReplicas": 4, "autoscaling": "backlog"}}},
     "server.queue.autoscaling: backlog scaling cannot be used with postgres.caBundle"),
    ({"server": {"deploymentModel": "control-plane", "image": None}},
     "postgres.caBundle: needs server.deploymentModel"),
    ({"postgres": {"mode": "external", "maxConnections": 100},
      "postgresUri": "postgresql://u:p@h:5432/d?sslmode=require"},
     "postgres.caBundle: only applies when postgres.mode is rds"),
    ({"postgres": {"caBundle": "not a certificate"}}, "postgres.caBundle: must be PEM text"),
])
def test_what_cannot_use_the_bundle_is_refused(raw: dict[str, Any], changes: dict[str, Any], expected: str) -> None:
    changed = with_postgres(raw, caBundle=PEM)
    for key, value in changes.items():
        if isinstance(value, dict):
            changed.setdefault(key, {}).update(value)
        else:
            changed[key] = value
    changed["server"] = {k: v for k, v in changed["server"].items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        validate_stack(changed)
    assert expected in caught.value.report()


def test_a_stack_file_gives_the_bundle_as_pem_text(tmp_path: Path) -> None:
    path = write_modified_stack(tmp_path, "staging", {"postgres": {"caBundle": PEM}})
    recording = plan_stack(str(path), program=ROOT / "__main__.py")
    assert ca_config_map(recording).plain_inputs["data"] == {POSTGRES_CA_FILE: PEM}
    assert all(mounted(recording, resource) for resource in [*recording.by_type(DEPLOYMENT), *recording.by_type(JOB)])
