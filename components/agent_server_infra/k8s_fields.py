"""Nested Kubernetes objects as the dicts the Kubernetes SDK sends for them.

The Workload builds each nested object (a container, a probe, a selector) as ``wire(k8s.core.v1.ContainerArgs,
name=..., ...)``: the keyword arguments are checked against the ``…Args`` class as a constructor call would be,
and the result is the dict the SDK sends for such an object (the API's field names, the unset fields left out,
the fields in the order the class sets them), which the SDK takes as it is. An ``…Args`` object instead costs the
SDK a conversion per object and field when the resource registers: a twentieth of a 50-server plan
(``benchmarks/plan_speed.py``), for the same bytes (``plan --json`` and ``--manifests`` are unchanged, and
``tests/components`` validate every object against the strict Kubernetes schema).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec

P = ParamSpec("P")


def api_name(name: str) -> str:
    """The Kubernetes API's name of a Kubernetes SDK field: lowerCamelCase (Kubernetes API conventions, "Naming
    conventions": ``containerPort``), of which the SDK's Python names are the snake_case, a Python keyword with a
    trailing underscore (``from_`` is ``from``)."""
    head, *rest = name.removesuffix("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.cache
def _fields(args_type: Callable[..., Any]) -> dict[str, tuple[int, str]]:
    """The keyword parameters of an ``…Args`` class: the position its constructor sets each in, and its API name."""
    names = [name for name in inspect.signature(args_type).parameters if name not in ("self", "__self__")]
    return {name: (index, api_name(name)) for index, name in enumerate(names)}


def wire(args_type: Callable[P, Any], *args: P.args, **fields: P.kwargs) -> Any:
    """What the SDK sends for ``args_type(**fields)``: a dict of the fields that are set, in the order the class
    sets them, under the API's names."""
    known = _fields(args_type)
    try:
        ordered = sorted((known[name], value) for name, value in fields.items() if value is not None)
    except KeyError as missing:
        raise TypeError(f"{getattr(args_type, '__name__', args_type)} takes no {missing.args[0]}") from None
    if args:
        raise TypeError(f"{getattr(args_type, '__name__', args_type)} takes keyword arguments only")
    return {name: value for (_, name), value in ordered}
