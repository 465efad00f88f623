"""Published security advisories of the Agent Server (``langgraph-api``), for the ``server.serverVersion`` check.

Each advisory lists the first fixed release of each release line it names. A version in one of those lines is
affected below its fix; a version of an older line, which got no fix, is affected; a newer line is not. Versions
compare as PEP 440 versions, so ``0.13.0rc3`` is below ``0.13.0rc5`` and ``0.13.0`` above it.

Some advisories only matter with some config (``condition``): the wildcard CORS policy only where browsers reach
the API. The release to move to is the oldest verified release (``releases.json``) at or above the version that
no advisory affects, whatever its conditions, so following the advice never lands on another known advisory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from packaging.version import InvalidVersion, Version

from .releases import verified_versions

Condition = Literal["wildcard-cors-ingress"]
"""``wildcard-cors-ingress``: ``corsAllowOrigins`` holds ``*`` and an Ingress publishes the API."""


def _line(version: Version) -> tuple[int, int]:
    """``(major, minor)`` of a release (``0.13.0rc5`` → ``(0, 13)``)."""
    release = (*version.release, 0)
    return release[0], release[1]


@dataclass(frozen=True)
class Advisory:
    """One advisory: its id, what it is, where it is published, the first fixed release of each line, other ids
    it is published under, and the config it needs to matter (``None``: any)."""

    id: str
    summary: str
    source: str
    fixed: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    condition: Condition | None = None

    def _lines(self) -> dict[tuple[int, int], Version]:
        return {_line(Version(fix)): Version(fix) for fix in self.fixed}

    def affects(self, version: str) -> bool:
        try:
            parsed = Version(version)
        except InvalidVersion:
            return False
        lines = self._lines()
        line = _line(parsed)
        if line in lines:
            return parsed < lines[line]
        return line < min(lines)

    @property
    def title(self) -> str:
        return f"{self.id} ({', '.join(self.aliases)})" if self.aliases else self.id


CORS_CREDENTIALS = "agent-server-0.14.0-cors-credentials"
SDK_ACTIONS = "GHSA-fvww-7h3r-vfhp"

ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        id="GHSA-2c9q-c2q9-qgqv",
        aliases=("CVE-2026-55235",),
        summary="a run or cron with a relative webhook target was delivered through the in-process transport, "
                "which the auth middleware does not authenticate: a user could reach routes on another user's "
                "threads and runs",
        source="github.com/advisories/GHSA-2c9q-c2q9-qgqv (langgraph-api >=0, <0.10.0; fixed 0.10.0; published "
               "2026-08-19); Agent Server changelog v0.10.0rc1 (loopback webhooks denied by default)",
        # The issue also names PYSEC-2026-3857 for it; no source reachable here confirms that id, so it is not an
        # alias until one does.
        fixed=("0.10.0",),
    ),
    Advisory(
        id="GHSA-jfj5-wrj9-63x4",
        aliases=("CVE-2026-55236",),
        summary="run creation authorized the attached assistant with assistants.search instead of "
                "assistants.read: with only a read handler, a user could run another user's private assistant and "
                "read its metadata, config and context",
        source="github.com/advisories/GHSA-jfj5-wrj9-63x4 (langgraph-api >=0, <0.10.0; fixed 0.10.0; published "
               "2026-08-19); Agent Server changelog v0.10.0rc1",
        fixed=("0.10.0",),
    ),
    Advisory(
        id="GHSA-747p-c922-m55f",
        summary="the Postgres runtime did not always apply custom @auth filters when a thread was created "
                "conditionally: an authenticated user who knew another user's thread id could create a run on it "
                "and read or change its state",
        source="Agent Server changelog (docs.langchain.com/langsmith/agent-server-changelog) v0.11.3, v0.12.5 "
               "and v0.13.0rc5, 2026-08-17; github.com/langchain-ai/helm/security/advisories/GHSA-747p-c922-m55f",
        fixed=("0.11.3", "0.12.5", "0.13.0rc5"),
    ),
    Advisory(
        id=CORS_CREDENTIALS,
        summary="with the default corsAllowOrigins * the server tells Starlette's CORSMiddleware "
                "allow_credentials=True, so it answers any Origin with that origin and "
                "Access-Control-Allow-Credentials: true: any website can make credentialed requests to the API "
                "from its visitors' browsers",
        source="Agent Server changelog v0.14.0rc1, Security ('Fixed the default wildcard CORS policy so browser "
               "credentials are disabled unless trusted origins are configured'; no advisory id); "
               "langgraph_api/server.py of 0.11.1 to 0.13.8 (allow_credentials=True) and of 0.14.0 and later "
               "('*' not in config.CORS_ALLOW_ORIGINS), releases.json",
        fixed=("0.14.0rc1",),
        condition="wildcard-cors-ingress",
    ),
    Advisory(
        id=SDK_ACTIONS,
        aliases=("CVE-2026-104873",),
        summary="these releases allow langgraph-sdk < 0.4.4 (Requires-Dist langgraph-sdk>=0.3.5), whose custom "
                "auth ignores actions= on @auth.on.threads/assistants/crons and runs the handler for every action, "
                "ahead of the fallbacks that deny: unless the image pins langgraph-sdk >= 0.4.4, a user may read, "
                "change or delete another user's resources",
        source="github.com/langchain-ai/langgraph/security/advisories/GHSA-fvww-7h3r-vfhp (langgraph-sdk >=0.1.45, "
               "<0.4.4; fixed 0.4.4; published 2026-08-28; CVE-2026-104873 published 2026-10-02); the wheels' "
               "METADATA: langgraph-sdk>=0.3.5 up to 0.13.8, >=0.4.4 from 0.14.0 (releases.json)",
        fixed=("0.14.0",),
    ),
    Advisory(
        id="GHSA-4hm6-w6qq-w73v",
        summary="with JavaScript/TypeScript custom auth the server did not apply the Store namespace an auth "
                "handler rewrote to: users can read and write each other's Store items (Python auth is not "
                "affected)",
        source="github.com/langchain-ai/langgraph/security/advisories/GHSA-4hm6-w6qq-w73v (High 8.6; langgraph-api "
               ">=0.1.2, <0.15.0; fixed 0.15.0; published 2026-09-28); Agent Server changelog v0.15.0rc7 (JS/TS "
               "custom auth request mutations applied, including the store namespace rewrite)",
        # The issue gives CVE-2026-118668 for it; the sources found here list no CVE id, so none is encoded.
        fixed=("0.15.0",),
    ),
)
"""Checked against the GitHub advisory database, the Agent Server changelog, PyPI (release dates) and the wheels
(``releases.json``): the CORS and langgraph-sdk rows are checked release by release by ``release_checks``."""


def advisories_for(version: str) -> list[Advisory]:
    """The advisories that affect ``version`` (conditional ones included)."""
    return [advisory for advisory in ADVISORIES if advisory.affects(version)]


def clean(version: str) -> bool:
    """Whether no known advisory affects ``version``, whatever the config."""
    return not advisories_for(version)


def move_to(version: str) -> str:
    """The release to move ``version`` to: the oldest verified release at or above it that no advisory affects
    (else the newest verified one)."""
    verified = verified_versions()
    try:
        floor = Version(version)
    except InvalidVersion:
        floor = Version(verified[0])
    candidates = [release for release in verified if clean(release) and Version(release) >= floor]
    return candidates[0] if candidates else verified[-1]
