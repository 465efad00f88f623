"""Small, dependency-free version parsing for server and engine version gates."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[.\-+]?[A-Za-z0-9.\-+]*)?$")


def parse_version(text: str) -> tuple[int, int, int]:
    """Parse ``"0.4.20"``/``"15.8"``/``"16"`` into a comparable ``(major, minor, patch)``.

    Suffixes such as ``.post1`` or ``rc1`` are ignored: gates compare release numbers only.
    Raises ``ValueError`` for text that does not start with a release number.
    """
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not a version number: {text!r}")
    major, minor, patch = (int(part) if part is not None else 0 for part in match.groups())
    return major, minor, patch
