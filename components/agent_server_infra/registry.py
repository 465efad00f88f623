"""What the components of one program know of each other: the Redis components servers share and the
Kubernetes namespaces servers take, by program run.

A run is its root stack resource (a new one for every ``pulumi up`` and every mock run in one process); a
component provider process serves one deployment, whose components have no stack of their own here.
"""

from __future__ import annotations

import weakref
from typing import Any

from pulumi.runtime import settings

_BY_RUN: weakref.WeakKeyDictionary[Any, dict[str, dict[Any, Any]]] = weakref.WeakKeyDictionary()
_NO_STACK: dict[str, dict[Any, Any]] = {}


def of_this_run(kind: str) -> dict[Any, Any]:
    """The registry ``kind`` (``"redis"``, ``"namespaces"``) of the program now running."""
    root = settings.get_root_resource()
    tables = _NO_STACK if root is None else _BY_RUN.setdefault(root, {})
    return tables.setdefault(kind, {})
