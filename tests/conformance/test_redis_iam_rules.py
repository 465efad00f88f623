"""The ElastiCache IAM rules of the conformance table find what AWS, the provider and the server refuse: each case
breaks one argument of the planned IAM variant and expects its rule to say so."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from agent_server_infra.plan.engine import RecordedResource, Recording
from tests.conformance import rules
from tests.conformance.conftest import Corpus


def _iam(corpus: Corpus) -> Recording:
    return copy.deepcopy(corpus("variant:redis-iam-staging")[0])


def _user(recording: Recording, name: str) -> RecordedResource:
    return next(u for u in recording.by_type(rules.CACHE_USER) if (u.wire_inputs["userName"] == "default")
                == (name == "default"))


def _set_user(name: str, key: str, value: Any) -> Callable[[Recording], None]:
    def change(recording: Recording) -> None:
        _user(recording, name).wire_inputs[key] = value
    return change


def _set_group(key: str, value: Any) -> Callable[[Recording], None]:
    def change(recording: Recording) -> None:
        recording.one(rules.GROUP).wire_inputs[key] = value
    return change


def _connect_to_other_user(recording: Recording) -> None:
    policy = next(p for p in recording.by_type(rules.ROLE_POLICY) if p.wire_inputs["name"].endswith("-redis-connect"))
    document = json.loads(policy.wire_inputs["policy"])
    document["Statement"][0]["Resource"][1] = document["Statement"][0]["Resource"][1].rsplit(":", 1)[0] + ":x"
    policy.wire_inputs["policy"] = json.dumps(document)


@pytest.mark.parametrize(("change", "expected"), [
    (_set_user("default", "accessString", "on ~* +@all"), "the default user"),
    (_set_user("default", "userName", "nobody"), "no user named default"),
    (_set_user("server", "userName", "Other"), "must be the same"),
    (_set_group("authToken", "a" * 32), "authToken beside userGroupIds"),
    (_set_group("transitEncryptionEnabled", False), "needs in-transit encryption"),
    (_set_group("engineVersion", "6.2"), "IAM authentication needs Redis OSS 7.0"),
    (_set_group("authTokenUpdateStrategy", "ROTATE"), "authTokenUpdateStrategy 'ROTATE' without authToken"),
    (_connect_to_other_user, "is not in the user group"),
])
def test_a_broken_argument_is_found(corpus: Corpus, change: Callable[[Recording], None], expected: str) -> None:
    recording = _iam(corpus)
    assert not rules.violations(recording)
    change(recording)
    found = rules.violations(recording)
    assert any(expected in problem for problem in found), found


def test_a_server_uri_with_the_token_is_found(corpus: Corpus) -> None:
    recording = _iam(corpus)
    for config_map in recording.by_type(rules.CONFIG_MAP):
        config_map.wire_inputs["data"].pop("AGENT_REDIS_IAM_AUTH_PROVIDER", None)
    found = rules.violations(recording)
    assert any("AGENT_REDIS_IAM_AUTH_PROVIDER is not aws" in problem for problem in found), found
