"""Outputs the engine left without a value: unknown, as in a preview, never a value made up from ``None``.

A preview leaves a new resource's computed outputs unknown, and Pulumi skips the applies that read them. Unit-test
mocks that answer a resource with its inputs (the ones Pulumi's testing guide shows) resolve the same outputs to
``None`` instead: an RDS address, a generated password, a random suffix, a Kubernetes auto-name. :func:`known`
turns that ``None`` back into an unknown, so whatever is built from it is unknown too.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pulumi
from pulumi.output import UNKNOWN

T = TypeVar("T")


def or_unknown(value: T | None) -> T:
    """``value``, or Pulumi's unknown value when it is ``None`` (for an apply's result)."""
    return UNKNOWN if value is None else value  # type: ignore[return-value]  # unknown stands in for any T


def known(output: pulumi.Output[Any]) -> pulumi.Output[Any]:
    """``output``, unknown where it resolves to ``None`` (a computed output the engine did not give)."""
    return output.apply(or_unknown)
