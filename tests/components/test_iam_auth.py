"""RDS IAM authentication in staging: IAM on the instance, a passwordless URI and the provider variable for the
server, rds-db:connect on its IRSA role (given, or created from the OIDC provider), the bootstrap Job both roles
wait for, and the rules (server ≥ 0.12, an IRSA role, no KEDA, RDS only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agent_server_infra import AgentServer, bootstrap
from agent_server_infra.config import NetworkConfig
from agent_server_infra.env import PostgresFacts, postgres_uri
from agent_server_infra.errors import ConfigError
from agent_server_infra.inputs import settings_of
from agent_server_infra.plan.document import to_document
from agent_server_infra.plan.engine import RecordedResource, Recording, reveal
from agent_server_infra.plan.stack import plan_stack
from agent_server_infra.postgres import PostgresShare
from agent_server_infra.validate import validate_stack
from tests.helpers import NETWORK, write_modified_stack

RDS = "aws:rds/instance:Instance"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
OIDC = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/5C2A7B1E9D"


def _secret_data(resource: RecordedResource) -> dict[str, str]:
    return dict(reveal(resource.inputs["stringData"]))


def _server_secret(recording: Recording) -> dict[str, str]:
    [secret] = [s for s in recording.by_type(SECRET) if "DATABASE_URI" in _secret_data(s)]
    return _secret_data(secret)


def test_staging_turns_iam_on_and_the_server_uri_has_no_password(planned: Callable[[str], Recording]) -> None:
    recording = planned("staging")
    db = recording.one(RDS).plain_inputs
    assert db["iamDatabaseAuthenticationEnabled"] is True
    assert "iam-db-auth-error" in db["enabledCloudwatchLogsExports"]
    uri = urlsplit(_server_secret(recording)["DATABASE_URI"])
    assert (uri.username, uri.password) == ("agent_server", None)
    assert uri.query == "sslmode=require"
    for config_map in recording.by_type(CONFIG_MAP):
        assert config_map.plain_inputs["data"]["AGENT_POSTGRES_IAM_AUTH_PROVIDER"] == "aws"
    master_password = recording.one(RDS).inputs["password"]
    assert str(reveal(master_password)) not in json.dumps(_server_secret(recording)), \
        "the server's Secret never holds the master password"


def test_the_given_role_may_connect_as_the_iam_user_only(planned: Callable[[str], Recording]) -> None:
    recording = planned("staging")
    instance = recording.one(RDS)
    policy = recording.one(ROLE_POLICY).plain_inputs
    assert policy["role"] == "agents-staging-server"  # the name in staging's serviceAccountRoleArn
    _, partition, _, region, account, *_ = instance.outputs["arn"].split(":")
    assert json.loads(policy["policy"])["Statement"] == [{
        "Effect": "Allow", "Action": "rds-db:connect",
        "Resource": f"arn:{partition}:rds-db:{region}:{account}:dbuser:{instance.outputs['resourceId']}/agent_server",
    }]
    assert not recording.by_type(ROLE), "a given role is not created"


def test_both_roles_wait_for_the_bootstrap_job(planned: Callable[[str], Recording]) -> None:
    recording = planned("staging")
    job = recording.one(JOB)
    api = recording.one(DEPLOYMENT, "agent-server-staging-workload-api")
    queue = recording.one(DEPLOYMENT, "agent-server-staging-workload-queue")
    assert job.urn in api.dependencies
    assert api.urn in queue.dependencies
    pod = job.plain_inputs["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == api.plain_inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["command"] == ["python", "-c", bootstrap.SCRIPT]
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    secret_name = container["envFrom"][0]["secretRef"]["name"]
    [secret] = [s for s in recording.by_type(SECRET) if s.outputs["metadata"]["name"] == secret_name]
    data = _secret_data(secret)
    assert set(data) == {bootstrap.BOOTSTRAP_URI}
    assert container["env"] == [{"name": bootstrap.IAM_USER, "value": "agent_server"}]
    master = urlsplit(data[bootstrap.BOOTSTRAP_URI])
    assert master.username == "langgraph"
    assert master.password, "the Job logs in as the master, with its password"
    assert "DATABASE_URI" not in data


def test_an_oidc_provider_gives_a_role_trusting_only_the_servers_service_account(tmp_path: Path) -> None:
    recording = plan_stack(str(write_modified_stack(tmp_path, "staging", {"server": {
        "serviceAccountRoleArn": None, "oidcProviderArn": OIDC}})))
    role = recording.one(ROLE)
    account = recording.one(SERVICE_ACCOUNT).plain_inputs["metadata"]
    [statement] = json.loads(role.plain_inputs["assumeRolePolicy"])["Statement"]
    issuer = OIDC.split(":oidc-provider/")[1]
    assert statement["Principal"] == {"Federated": OIDC}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"] == {
        f"{issuer}:sub": f"system:serviceaccount:{account['namespace']}:{account['name']}",
        f"{issuer}:aud": "sts.amazonaws.com"}
    assert account["annotations"]["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert recording.one(ROLE_POLICY).plain_inputs["role"] == role.outputs["name"]


def test_without_iam_nothing_changes(planned: Callable[[str], Recording]) -> None:
    recording = planned("dev")
    assert not recording.by_type(JOB)
    assert not recording.by_type(ROLE_POLICY)
    assert urlsplit(_server_secret(recording)["DATABASE_URI"]).password
    assert "AGENT_POSTGRES_IAM_AUTH_PROVIDER" not in to_document(recording)["deployments"][0]["env"]["api"]


def test_an_iam_uri_has_no_password() -> None:
    facts = PostgresFacts(host="db.internal", database="agents", user="agent_server", password="unused", iam=True)
    assert postgres_uri(facts) == "postgresql://agent_server@db.internal:5432/agents?sslmode=require"


def _raw(**server: Any) -> dict[str, Any]:
    return {"network": NETWORK, "postgres": {"iamAuthentication": True},
            "server": {"image": "registry.example.com/agents:1.2.3", "serverVersion": "0.16.7",
                       "serviceAccountRoleArn": "arn:aws:iam::123456789012:role/agents", **server},
            "licenseKey": "lic-0123"}


def test_a_valid_iam_config_passes() -> None:
    assert validate_stack(_raw()).config.postgres.iam_authentication


@pytest.mark.parametrize(("raw", "expected"), [
    (_raw(serverVersion="0.11.4"), "postgres.iamAuthentication: needs langgraph-api ≥ 0.12.0 "
                                   "(AGENT_POSTGRES_IAM_AUTH_PROVIDER) but server.serverVersion is 0.11.4"),
    (_raw(serverVersion=None), "postgres.iamAuthentication: needs langgraph-api ≥ 0.12.0"),
    (_raw(serviceAccountRoleArn=None), "server.serviceAccountRoleArn: postgres.iamAuthentication needs the "
                                       "server's IRSA role"),
    (_raw(queue={"maxReplicas": 3, "autoscaling": "backlog"}),
     "server.queue.autoscaling: backlog scaling cannot be used with postgres.iamAuthentication"),
    ({**_raw(), "postgres": {"iamAuthentication": True, "iamUsername": "LangGraph"}},
     "postgres.iamUsername: must differ from the master username"),
    ({**_raw(), "postgres": {"iamUsername": "agent"}}, "postgres.iamUsername: only used with"),
    ({**_raw(), "postgres": {"iamUsername": "rdsadmin", "iamAuthentication": True}},
     "postgres.iamUsername: must not be a reserved name"),
    (_raw(oidcProviderArn=OIDC), "server.oidcProviderArn: only used when serviceAccountRoleArn is unset"),
    ({**_raw(), "postgres": {"mode": "external", "maxConnections": 100, "iamAuthentication": True},
      "postgresUri": "postgresql://u:p@db.example.com:5432/a?sslmode=require"},
     "postgres.iamAuthentication: only applies when postgres.mode is rds"),
])
def test_iam_rules(raw: dict[str, Any], expected: str) -> None:
    raw = {**raw, "server": {key: value for key, value in raw["server"].items() if value is not None}}
    with pytest.raises(ConfigError) as caught:
        validate_stack(raw)
    assert expected in caught.value.report()


def test_a_share_of_a_postgres_cannot_take_iam_authentication() -> None:
    share: PostgresShare = {"name": "shared", "address": "db.internal", "port": 5432, "database": "agents",
                            "username": "agents", "password": "p", "max_connections": 400}
    server: Any = {"image": "registry.example.com/agents:1", "server_version": "0.16.7",
                   "service_account_role_arn": "arn:aws:iam::123456789012:role/agents"}
    with pytest.raises(ConfigError) as caught:
        AgentServer("one", {"network": settings_of(NetworkConfig, NETWORK), "postgres": {"iam_authentication": True},
                            "redis": {}, "server": server, "license_key": "k", "existing_postgres": share})
    assert "postgres.iamAuthentication: needs the Postgres itself" in caught.value.report()
