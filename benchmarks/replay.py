"""Register exactly the resources of a ``plan --json`` document through the stock Pulumi SDKs: the SDKs' own cost
for that graph, the floor ``benchmarks/plan_speed.py`` measures the plan against.

    python benchmarks/replay.py PLAN.json [--untyped]

Each resource of the document is registered with its type, name, parent and inputs, parents first, under
``pulumi.runtime.set_mocks`` with the mocks Pulumi's unit-testing guide shows (a resource's outputs are its
inputs), and nothing else: no validation, no Outputs of its own, no stack outputs. Nothing of
``agent_server_infra`` is imported.

A resource is built by the SDK class of its type (``aws:rds/instance:Instance`` → ``pulumi_aws.rds.Instance``),
with the document's inputs as keyword arguments (``instanceClass`` → ``instance_class``, nested values as the
document spells them): what any program that creates such a resource makes the SDK do, its module loaded and its
typed outputs included. A type no SDK class has (a component, a Kubernetes custom resource) is registered as a
``pulumi.ComponentResource`` or ``pulumi.CustomResource``. ``--untyped`` registers every resource so, a lower
bound no program that uses the SDKs' classes reaches (the modules of the types are still loaded).

The process runs on the same footing as ``agent-server-infra plan``: no cyclic garbage collector, no interpreter
teardown (see ``agent_server_infra.cli.main``).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pulumi

PACKAGES = {"aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes", "random": "pulumi_random"}
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class MyMocks(pulumi.runtime.Mocks):
    """The mocks of Pulumi's unit-testing guide: a resource's outputs are its inputs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[Any, Any]]:
        return args.name + "_id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]]]:
        return {}, []


def sdk_module(type_: str) -> str | None:
    """The module of the Pulumi SDKs that defines resource type ``type_`` (``aws:rds/instance:Instance`` →
    ``pulumi_aws.rds.instance``, ``kubernetes:apps/v1:Deployment`` → ``pulumi_kubernetes.apps.v1.Deployment``),
    the generic ``apiextensions.CustomResource`` for another Kubernetes kind, ``None`` for a component."""
    package, module, name = type_.split(":")
    if package not in PACKAGES:
        return None
    if package == "kubernetes":
        group, _, version = module.partition("/")
        path = f"{PACKAGES[package]}.{group.split('.')[0]}.{version}.{name}"
    else:
        service, _, resource = module.partition("/")
        head = PACKAGES[package] if service == "index" else f"{PACKAGES[package]}.{service}"
        path = f"{head}.{_CAMEL_BOUNDARY.sub('_', resource).lower()}"
    try:
        if importlib.util.find_spec(path) is not None:
            return path
    except ModuleNotFoundError:  # a group no SDK package has (keda.sh)
        pass
    return "pulumi_kubernetes.apiextensions.CustomResource" if package == "kubernetes" else None


def sdk_classes(types: set[str], untyped: bool) -> dict[str, Any]:
    """Load the module of each type; the SDK class of each type that has one (none with ``untyped``)."""
    classes: dict[str, Any] = {}
    for type_ in sorted(types):
        module = sdk_module(type_)
        if module is None:
            continue
        found = getattr(importlib.import_module(module), type_.split(":")[2], None)
        if found is not None and not untyped:
            classes[type_] = found
    return classes


def replay(document: dict[str, Any], untyped: bool = False) -> int:
    """Register every resource of ``document``, parents first; return how many were registered."""
    resources = document["resources"]
    classes = sdk_classes({resource["type"] for resource in resources}, untyped)
    registered: dict[str, pulumi.Resource] = {}  # by URN
    pending = list(resources)
    while pending:
        waiting = []
        for resource in pending:
            parent_urn = resource["parent"]
            parent = registered.get(parent_urn) if parent_urn else None
            if parent_urn and parent is None:
                waiting.append(resource)
                continue
            opts = pulumi.ResourceOptions(parent=parent, protect=resource["protect"] or None)
            type_, name, inputs = resource["type"], resource["name"], resource["inputs"]
            created: pulumi.Resource
            if type_ in classes:
                arguments = {_CAMEL_BOUNDARY.sub("_", key).lower(): value for key, value in inputs.items()}
                created = classes[type_](name, opts=opts, **arguments)
            elif type_.split(":")[0] in PACKAGES:
                created = pulumi.CustomResource(type_, name, inputs, opts)
            else:
                created = pulumi.ComponentResource(type_, name, None, opts)
            registered[resource["urn"]] = created
        if len(waiting) == len(pending):
            raise ValueError(f"parents never registered: {sorted({r['parent'] for r in waiting})}")
        pending = waiting
    return len(registered)


def main() -> None:
    gc.disable()
    document = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    pulumi.runtime.set_mocks(MyMocks(), project=document["project"], stack=document["stack"], preview=False)
    counted: list[int] = []
    pulumi.runtime.test(lambda: counted.append(replay(document, untyped="--untyped" in sys.argv[2:])))()
    print(f"registered {counted[0]} resources", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
