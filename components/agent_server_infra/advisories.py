"""Published security advisories of the Agent Server (``langgraph-api``), for the ``server.serverVersion`` check.

Each advisory lists the first fixed release of each release line it names. A version in one of those lines is
affected below its fix; a version of an older line, which got no fix, is affected; a newer line is not. Versions
compare as PEP 440 versions, so ``0.13.0rc3`` is below ``0.13.0rc5`` and ``0.13.0`` above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version


def _line(version: Version) -> tuple[int, int]:
    """``(major, minor)`` of a release (``0.13.0rc5`` → ``(0, 13)``)."""
    release = (*version.release, 0)
    return release[0], release[1]


@dataclass(frozen=True)
class Advisory:
    """One advisory: its id, what it is, where it is published and the first fixed release of each line."""

    id: str
    summary: str
    source: str
    fixed: tuple[str, ...]

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

    def fix_for(self, version: str) -> str:
        """The fixed release to move to: the one of the version's line, else the oldest fixed one."""
        line = _line(Version(version))
        return next((fix for fix in self.fixed if _line(Version(fix)) == line), self.fixed[0])


ADVISORIES: tuple[Advisory, ...] = (
    Advisory(
        id="GHSA-747p-c922-m55f",
        summary="the Postgres runtime did not always apply custom @auth filters when a thread was created "
                "conditionally: an authenticated user who knew another user's thread id could create a run on it "
                "and read or change its state",
        source="Agent Server changelog (docs.langchain.com/langsmith/agent-server-changelog) v0.11.3, v0.12.5 "
               "and v0.13.0rc5, 2026-08-17; github.com/langchain-ai/helm/security/advisories/GHSA-747p-c922-m55f",
        fixed=("0.11.3", "0.12.5", "0.13.0rc5"),
    ),
)
"""Checked against the changelog and PyPI (0.11.3, 0.12.5 and 0.13.0rc5 were released 2026-08-17/18)."""


def advisories_for(version: str) -> list[Advisory]:
    """The advisories that affect ``version``."""
    return [advisory for advisory in ADVISORIES if advisory.affects(version)]
