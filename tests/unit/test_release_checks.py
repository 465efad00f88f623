"""The release table's reader (an AST scan of a wheel) and the checks of the env table, config and advisories
against the table. Offline: a wheel is built here from a few lines of source; the real wheels are the release
tier's (tests/releases)."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import pytest

from agent_server_infra import release_checks
from agent_server_infra.env_table import ENV, EnvVar
from agent_server_infra.release_scan import changes, scan_wheel
from agent_server_infra.releases import TABLE_PATH, Release, parse_table, render_table, verified

CONFIG = '''\
import os
from os import environ, getenv
from starlette.config import Config
from starlette.config import Config as StarletteConfig

env = Config()
other = StarletteConfig()
N_JOBS = env("N_JOBS_PER_WORKER", cast=int, default=10)
PREFIX = other.get("REDIS_KEY_PREFIX", default="")
URI = env("DATABASE_URI", cast=str, default=getenv("POSTGRES_URI", None))
PORT = os.getenv("PORT", "8080")
LEVEL = environ.get("LOG_LEVEL")
JSON = os.environ["LOG_JSON"]
if "MOUNT_PREFIX" in os.environ:
    pass
os.environ["WRITTEN_ONLY"] = "1"
os.environ.setdefault("DEFAULTED_ONLY", "1")
dynamic = env(f"BUILT_{N_JOBS}")
TRACING = env("LANGSMITH_TRACING", cast=bool, default=None)
KEY = env("LANGSMITH_API_KEY", default="")
if KEY and TRACING is None:
    environ["LANGSMITH_TRACING"] = "true"


def parse_checkpointer():
    backend = os.environ.get("LS_DEFAULT_CHECKPOINTER_BACKEND")
    if backend is not None and backend not in {"mongo", "default"}:
        raise ValueError("LS_DEFAULT_CHECKPOINTER_BACKEND must be 'default' or 'mongo'")
'''
PROTO = '''\
from elsewhere import Config

config = Config()
config("NOT_AN_ENV_READ")
'''
SERVER = '''\
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

middleware = [Middleware(CORSMiddleware, allow_origins=config.CORS_ALLOW_ORIGINS, allow_credentials=True)]
'''
METADATA = "Metadata-Version: 2.4\nName: langgraph-api\nVersion: 9.9.9\nRequires-Dist: langgraph-sdk>=0.3.5\n"


def wheel(tmp_path: Path, files: dict[str, str]) -> Path:
    path = tmp_path / "langgraph_api-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def scanned(tmp_path: Path) -> Release:
    return scan_wheel(wheel(tmp_path, {
        "langgraph_api/config/__init__.py": CONFIG, "langgraph_api/grpc/ops.py": PROTO,
        "langgraph_api/server.py": SERVER, "langgraph_api-9.9.9.dist-info/METADATA": METADATA,
    }), "9.9.9")


def test_every_way_the_wheels_read_a_variable_is_found(scanned: Release) -> None:
    assert set(scanned.reads) == {
        "N_JOBS_PER_WORKER", "REDIS_KEY_PREFIX", "DATABASE_URI", "POSTGRES_URI", "PORT", "LOG_LEVEL", "LOG_JSON",
        "MOUNT_PREFIX", "LANGSMITH_TRACING", "LANGSMITH_API_KEY", "LS_DEFAULT_CHECKPOINTER_BACKEND",
    }, "writes, setdefault, names built at run time and calls of a Config that is not starlette's are not reads"
    assert scanned.reads["PORT"] == ("langgraph_api/config/__init__.py",)


def test_the_facts_the_library_relies_on_are_read(scanned: Release) -> None:
    assert scanned.checkpointer_backends == ("default", "mongo")
    assert scanned.cors_allow_credentials == "True"
    assert scanned.tracing_default == "KEY and TRACING is None"
    assert scanned.requires_langgraph_sdk == ">=0.3.5"
    assert len(scanned.sha256) == 64


def test_the_table_round_trips_byte_for_byte() -> None:
    text = TABLE_PATH.read_text()
    assert render_table(parse_table(text)) == text


def test_the_changes_between_releases_are_listed() -> None:
    lines = changes(verified())
    assert "0.11.4 → 0.12.0: + AGENT_POSTGRES_IAM_AUTH_PROVIDER, AGENT_REDIS_IAM_AUTH_PROVIDER" in lines


# --- the library against the checked-in table --------------------------------------------------------------


def test_the_library_agrees_with_every_verified_release() -> None:
    assert release_checks.problems(verified()) == []


def test_the_env_table_reads_of_the_shipped_rows_are_in_the_table() -> None:
    first = {row.name: next((r.version for r in verified() if row.name in r.reads), None) for row in ENV.values()
             if row.reader == "langgraph-api"}
    assert first["AGENT_POSTGRES_IAM_AUTH_PROVIDER"] == "0.12.0"
    assert first["DATABASE_URI"] == verified()[0].version


def replaced(name: str, **changes: object) -> list[EnvVar]:
    return [dataclasses.replace(row, **changes) if row.name == name else row for row in ENV.values()]


@pytest.mark.parametrize(("rows", "expected"), [
    (replaced("AGENT_POSTGRES_IAM_AUTH_PROVIDER", min_version="0.11.0"), "but 0.11.4 does not read it"),
    (replaced("AGENT_POSTGRES_IAM_AUTH_PROVIDER", min_version="0.13.0"), "is above 0.12.0, which reads it"),
    (replaced("LS_APM_OTEL_ENABLED", reader="langgraph-api"), "no verified release reads it"),
    (replaced("LANGSMITH_ENDPOINT", reader="image"), "make its reader langgraph-api"),
])
def test_a_row_the_wheels_contradict_is_a_problem(rows: list[EnvVar], expected: str) -> None:
    assert any(expected in problem for problem in release_checks.env_table_problems(verified(), rows))


def test_a_variable_a_later_release_dropped_is_a_problem() -> None:
    releases = verified()
    last = releases[-1]
    dropped = dataclasses.replace(last, reads={k: v for k, v in last.reads.items() if k != "REDIS_CLUSTER"})
    problems = release_checks.env_table_problems((*releases[:-1], dropped))
    assert any(f"REDIS_CLUSTER: read by {releases[0].version} but not by the later {last.version}" in problem
               for problem in problems)


@pytest.mark.parametrize(("fact", "value", "expected"), [
    ("checkpointer_backends", ("custom", "default", "mongo"), "accepts checkpointer backends"),
    ("cors_allow_credentials", "'*' not in config.CORS_ALLOW_ORIGINS", "the CORS advisory says affected"),
    ("requires_langgraph_sdk", ">=0.4.4", "GHSA-fvww-7h3r-vfhp row says affected"),
    ("tracing_default", "True", "turns tracing on when 'True'"),
])
def test_a_fact_a_release_contradicts_is_a_problem(fact: str, value: object, expected: str) -> None:
    releases = verified()
    oldest = dataclasses.replace(releases[0], **{fact: value})
    assert any(expected in problem for problem in release_checks.problems((oldest, *releases[1:])))
