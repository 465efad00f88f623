"""The library against the release table: what it renders and assumes, checked release by release.

- Every variable of the env table that ``langgraph-api`` itself reads (``reader``) is read by every verified
  release from its ``min_version`` on, and its ``min_version`` agrees with the first verified release that reads
  it (no earlier than the release before it, no later than it). A variable another reader takes (the image's
  entrypoint, ddtrace, the OpenTelemetry SDK, a control plane) must not be one the wheels read themselves: then
  the table could check it, and the row says so.
- The checkpointer backends config accepts are the ones every release's parser accepts.
- The CORS and langgraph-sdk advisories affect exactly the verified releases whose wheels show the problem.
- Every release turns tracing on by itself only when a LangSmith key is set (what ``langsmith_tracing`` assumes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .advisories import ADVISORIES, CORS_CREDENTIALS, SDK_ACTIONS, Advisory
from .config import CheckpointerBackend
from .env_table import ENV, EnvVar
from .releases import PACKAGE, Release

CREDENTIALS_ALWAYS = "True"
"""``allow_credentials`` of a release whose CORS middleware sends credentials to any origin."""
TRACING_WITH_KEY = "LANGSMITH_CONTROL_PLANE_API_KEY and TRACING is None"
"""The condition under which the verified releases turn tracing on themselves: a key (``LANGSMITH_API_KEY`` is
the default of ``LANGSMITH_CONTROL_PLANE_API_KEY``) and no explicit ``LANGSMITH_TRACING``."""
SDK_FIXED = "0.4.3"
"""The last ``langgraph-sdk`` that ignores ``actions=`` (GHSA-fvww-7h3r-vfhp)."""


def env_row_problems(row: EnvVar, releases: tuple[Release, ...]) -> list[str]:
    """What the table says against one env table row."""
    reading = [release for release in releases if row.name in release.reads]
    if row.reader != PACKAGE:
        if reading and len(reading) == len(releases):
            return [f"{row.name}: every verified release's wheel reads it ({reading[0].reads[row.name][0]}); make "
                    f"its reader {PACKAGE} so the table checks it (reader is {row.reader})"]
        return []
    if not reading:
        return [f"{row.name}: no verified release reads it, yet the env table renders it for langgraph-api"]
    first = reading[0]
    problems = [f"{row.name}: read by {first.version} but not by the later {release.version}"
                for release in releases if release.parsed > first.parsed and row.name not in release.reads]
    index = releases.index(first)
    minimum = Version(row.min_version) if row.min_version else None
    if minimum is not None and minimum > first.parsed:
        problems.append(f"{row.name}: min_version {row.min_version} is above {first.version}, which reads it")
    if index > 0 and (minimum is None or minimum <= releases[index - 1].parsed):
        problems.append(f"{row.name}: min_version {row.min_version or 'unset'}, but {releases[index - 1].version} "
                        f"does not read it (first read by {first.version})")
    return problems


def env_table_problems(releases: tuple[Release, ...], rows: Iterable[EnvVar] = ENV.values()) -> list[str]:
    return [problem for row in rows for problem in env_row_problems(row, releases)]


def checkpointer_problems(releases: tuple[Release, ...]) -> list[str]:
    accepted = tuple(sorted(get_args(CheckpointerBackend)))
    return [f"{release.version} accepts checkpointer backends {list(release.checkpointer_backends)}, config accepts "
            f"{list(accepted)}" for release in releases if release.checkpointer_backends != accepted]


def _advisory(advisory_id: str) -> Advisory:
    return next(advisory for advisory in ADVISORIES if advisory.id == advisory_id)


def advisory_problems(releases: tuple[Release, ...]) -> list[str]:
    """The CORS and SDK advisories against the wheels, release by release."""
    problems: list[str] = []
    cors, sdk = _advisory(CORS_CREDENTIALS), _advisory(SDK_ACTIONS)
    for release in releases:
        always = release.cors_allow_credentials == CREDENTIALS_ALWAYS
        if always != cors.affects(release.version):
            problems.append(f"{release.version}: allow_credentials={release.cors_allow_credentials!r} but the CORS "
                            f"advisory says {'affected' if cors.affects(release.version) else 'fixed'}")
        old_sdk = SpecifierSet(release.requires_langgraph_sdk if release.requires_langgraph_sdk != "any" else "") \
            .contains(SDK_FIXED)
        if old_sdk != sdk.affects(release.version):
            problems.append(f"{release.version}: requires langgraph-sdk{release.requires_langgraph_sdk} but the "
                            f"{SDK_ACTIONS} row says {'affected' if sdk.affects(release.version) else 'fixed'}")
    return problems


def tracing_problems(releases: tuple[Release, ...]) -> list[str]:
    return [f"{release.version} turns tracing on when {release.tracing_default!r}, not only with a key"
            for release in releases if release.tracing_default != TRACING_WITH_KEY]


def problems(releases: tuple[Release, ...]) -> list[str]:
    """Everything the library says about the releases that their wheels contradict."""
    return [*env_table_problems(releases), *checkpointer_problems(releases), *advisory_problems(releases),
            *tracing_problems(releases)]
