"""Pulumi Inputs at the component boundary: the components' args in, one validated stack config out.

A component's args hold the stack config's sections as snake_case dicts (``settings``), and some values may be
Outputs of the user's own infrastructure: the fields config marks :class:`~agent_server_infra.config.
FromInfrastructure` (ids, CIDRs, ARNs, the image, hosts, ``extraEnv`` values) and every secret. Everything else
decides which resources exist or sizes the connection budget, so it must be known when the component is
constructed; an Output there is a config error that says so.

:func:`validate_args` validates the plain values at once, with the same rules and messages as a stack file (an
Output stands in as a valid value of its field meanwhile), then wraps each Output so that, when it resolves, the
stack is validated again with the real value: a problem at that path fails the update with the same message and
path, before any resource uses the value. The validated config holds those checked Outputs where the plain
values would be, so the components pass them to resources as they are.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import pulumi
from pydantic import BaseModel

from .config import (
    SECRET_KEYS,
    SECTIONS,
    FromInfrastructure,
    Secrets,
    StackConfig,
    infrastructure_marker,
    optional_inner,
    placeholder,
    section_model,
)
from .errors import ConfigError, Issue
from .unknowns import or_unknown
from .validate import config_path, lift_secret_env, under, validate_sections

EC2_IDS = ("network.vpcId", "network.subnetIds[", "network.clientSecurityGroupIds[")
"""Where config holds EC2 resource ids (a VPC, each subnet, each client security group). The id an Output resolves
to there is the id another resource was given, and EC2 refuses a malformed one itself (``InvalidVpcID.Malformed``,
``InvalidSubnetID.Malformed``, ``InvalidGroupId.Malformed``: AWS EC2 API reference, "Error codes for the Amazon EC2
API"): a value of the wrong format is a warning, not an error, so a program's unit tests pass under the mocks
Pulumi's unit-testing guide shows, whose ids are ``<name>_id``. A plain value there is checked as strictly as in a
stack file."""
WHOLE_LIST_STAND_INS = 2
"""Items a list that is one Output is validated with until it resolves (subnets: at least two)."""
Path = tuple[str | int, ...]
"""A config path in stack-config keys: ``("network", "subnetIds", 0)``."""


SECRET_FIELDS: tuple[str, ...] = tuple(Secrets.model_fields)
"""The secret inputs of the components, by field name (``license_key``); their stack keys are
:data:`~agent_server_infra.config.SECRET_KEYS`."""
SECRET_ALIASES: dict[str, str] = dict(zip(SECRET_FIELDS, SECRET_KEYS, strict=True))
"""Secret field name → stack key (``license_key`` → ``licenseKey``)."""
_SECRET_FIELDS_BY_ALIAS = {alias: field for field, alias in SECRET_ALIASES.items()}


def is_output(value: Any) -> bool:
    """Whether ``value`` is only known later (an Output or another awaitable Input)."""
    return isinstance(value, pulumi.Output) or inspect.isawaitable(value)


@dataclass(frozen=True)
class Deferred:
    """An Output at ``path`` of the raw config, with the stand-in validation used until it resolves."""

    path: Path
    value: Any


def _stand_in(marker: FromInfrastructure, index: int = 0) -> str:
    return marker.stand_in.format(index=index)


class _Extractor:
    """Walks raw sections: snake_case keys to stack-config keys, Outputs to stand-ins (or issues)."""

    def __init__(self) -> None:
        self.deferred: list[Deferred] = []
        self.issues: list[Issue] = []

    def section(self, model: type[BaseModel], data: Any, path: Path) -> Any:
        if is_output(data):
            self._structural(path)
            return {}
        if not isinstance(data, Mapping):
            return data  # validation reports the wrong type
        by_name = {name: (str(info.alias or name), info) for name, info in model.model_fields.items()}
        by_alias = {alias: (alias, info) for alias, info in by_name.values()}
        out: dict[str, Any] = {}
        for key, value in data.items():
            alias, info = by_name.get(key) or by_alias.get(key) or (str(key), None)
            out[alias] = value if info is None else self._field(info.annotation, info.metadata, value,
                                                                (*path, alias))
        return out

    def _field(self, annotation: Any, metadata: Sequence[Any], value: Any, path: Path) -> Any:
        marker = infrastructure_marker(annotation, metadata)
        if is_output(value):
            if marker is None:
                self._structural(path)
                return None
            self.deferred.append(Deferred(path, value))
            if get_origin(optional_inner(annotation)) is list:
                return [_stand_in(marker, index) for index in range(WHOLE_LIST_STAND_INS)]
            return _stand_in(marker)
        nested = section_model(annotation)
        if nested is not None:
            return self.section(nested, value, path)
        origin, args = get_origin(optional_inner(annotation)), get_args(optional_inner(annotation))
        if origin is list and isinstance(value, list | tuple):
            item = infrastructure_marker(args[0]) if args else None
            item_model = section_model(args[0]) if args else None
            return [self._item(item, item_model, element, (*path, index), index)
                    for index, element in enumerate(value)]
        if origin is dict and isinstance(value, Mapping):
            item = infrastructure_marker(args[1]) if len(args) == 2 else None
            return {key: self._item(item, None, element, (*path, str(key)), 0) for key, element in value.items()}
        return value

    def _item(self, marker: FromInfrastructure | None, model: type[BaseModel] | None, value: Any, path: Path,
              index: int) -> Any:
        if is_output(value):
            if marker is None:
                self._structural(path)
                return None
            self.deferred.append(Deferred(path, value))
            return _stand_in(marker, index)
        return self.section(model, value, path) if model is not None else value

    def _structural(self, path: Path) -> None:
        self.issues.append(Issue(config_path(path), "must be known when the component is constructed (got an "
                                 "Output): it decides which resources exist or sizes the connection budget"))


def to_raw(sections: Mapping[str, Any], secrets: Mapping[str, Any]) -> tuple[dict[str, Any], list[Deferred],
                                                                             list[Issue]]:
    """Args sections (snake_case, maybe with Outputs) and secret inputs → a raw stack config with stand-ins, the
    Outputs it stands in for, and the Outputs found where a plain value is required."""
    extractor = _Extractor()
    raw: dict[str, Any] = {}
    for section, value in sections.items():
        model = SECTIONS.get(section)
        if value is None:
            continue
        raw[section] = extractor.section(model, value, (section,)) if model is not None else value
    for key, value in secrets.items():
        if value is None:
            continue
        alias = SECRET_ALIASES.get(key, key)
        raw[alias] = placeholder(alias)
        if is_output(value):
            extractor.deferred.append(Deferred((alias,), value))
        elif not isinstance(value, str):
            extractor.issues.append(Issue(alias, "must be a string or an Output of one"))
        else:
            raw[alias] = value
    return raw, extractor.deferred, extractor.issues


def _set(raw: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """``raw`` with ``value`` at ``path``: the containers along the path copied, the rest shared (validation
    reads the raw config, it never changes it)."""
    trial = dict(raw)
    target: Any = trial
    for part in path[:-1]:
        target[part] = dict(target[part]) if isinstance(target[part], dict) else list(target[part])
        target = target[part]
    target[path[-1]] = value
    return trial


@dataclass(frozen=True)
class ValidatedArgs:
    """A component's args, validated: the stack config (checked Outputs where the args held Outputs), its
    warnings and the secret inputs as secret Outputs."""

    config: StackConfig
    warnings: list[Issue]
    secrets: dict[str, pulumi.Output[str]]
    """Every secret input given, by field name (``license_key``), as a secret Output of its checked value."""


def validate_args(
    values: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    *,
    source: str,
    sections: Collection[str] | None = None,
) -> ValidatedArgs:
    """Validate a component's args: ``values`` by section (snake_case keys), the secret inputs by field name;
    ``sections`` as for :func:`~agent_server_infra.validate.validate_stack`. Raise one ConfigError with every
    problem (see the module docstring)."""
    raw, deferred, structural = to_raw(values, secrets or {})
    if structural:
        raise ConfigError(structural, source)
    stack = validate_sections(raw, source, sections)

    def checked(item: Deferred) -> pulumi.Output[Any]:
        def check(value: Any) -> Any:
            if value is None:  # a computed output the engine did not give: unknown, as in a preview
                return or_unknown(value)
            try:
                validate_sections(_set(raw, item.path, value), source, sections)
            except ConfigError as exc:
                found = [issue for issue in exc.issues if under(issue, config_path(item.path))]
                for issue in found:
                    if issue.path.startswith(EC2_IDS):
                        pulumi.log.warn(Issue(issue.path, issue.message, "warning").render(source))
                found = [issue for issue in found if not issue.path.startswith(EC2_IDS)]
                if found:
                    raise ConfigError(found, source) from None
            return value

        return pulumi.Output.from_input(item.value).apply(check)

    config = stack.config
    secret_outputs: dict[str, pulumi.Output[str]] = {}
    for item in deferred:
        output = checked(item)
        if len(item.path) == 1:  # a top-level key is a secret
            secret_outputs[_SECRET_FIELDS_BY_ALIAS[str(item.path[0])]] = pulumi.Output.secret(output)
        else:
            config = _place(config, item.path, output)
    for key, value in (secrets or {}).items():
        if value is not None and not is_output(value):
            secret_outputs[key] = pulumi.Output.secret(value)
    return ValidatedArgs(config=config, warnings=stack.warnings, secrets=secret_outputs)


ComponentT = typing.TypeVar("ComponentT", bound=pulumi.ComponentResource)


def prevalidated(cls: type[ComponentT], type_token: str, name: str,
                 opts: pulumi.ResourceOptions | None) -> ComponentT:
    """A component registered without validating args: ``AgentServer`` builds its children from the config it
    validated with the whole stack (each child's own ``__init__`` would check its part again)."""
    component = cls.__new__(cls)
    pulumi.ComponentResource.__init__(component, type_token, name, None, opts)
    return component


def _place(model: BaseModel, path: Path, value: Any) -> Any:
    """``model`` with ``value`` at ``path`` (stack-config keys), copied level by level (models are frozen)."""
    head, rest = path[0], path[1:]
    if isinstance(model, BaseModel):
        field = next(name for name, info in type(model).model_fields.items() if (info.alias or name) == head)
        current = getattr(model, field)
        return model.model_copy(update={field: _place(current, rest, value) if rest else value})
    if isinstance(model, list):
        items = list(model)
        items[typing.cast(int, head)] = _place(items[typing.cast(int, head)], rest, value) if rest else value
        return items
    if isinstance(model, dict):
        items = dict(model)
        items[head] = _place(items[head], rest, value) if rest else value
        return items
    raise TypeError(f"cannot place a value at {config_path(path)}")




def settings_of(model: type[BaseModel], data: Any) -> Any:
    """A section in stack-config keys as args keys (snake_case field names); unknown keys stay for validation to
    report, and map keys (``extraEnv``'s variable names) are kept as they are."""
    if not isinstance(data, Mapping):
        return data
    by_alias = {str(info.alias or name): (name, info) for name, info in model.model_fields.items()}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name, info = by_alias.get(key, (key, None))
        nested = section_model(info.annotation) if info is not None else None
        out[name] = settings_of(nested, value) if nested is not None else value
    return out


def args_from_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw stack config (stack-config keys, as :mod:`~agent_server_infra.loaders` reads it) as the args of
    :class:`~agent_server_infra.agent_server.AgentServer`: sections with snake_case keys, every secret a secret
    Output (it stays one end to end)."""
    raw = lift_secret_env(raw)
    args: dict[str, Any] = {section: settings_of(model, raw[section]) for section, model in SECTIONS.items()
                            if raw.get(section) is not None}
    if "extra_secret_env" in args.get("server", {}):
        args["server"]["extra_secret_env"] = {name: pulumi.Output.secret(value) for name, value
                                              in args["server"]["extra_secret_env"].items()}
    for field, key in SECRET_ALIASES.items():
        if key in raw:
            args[field] = pulumi.Output.secret(raw[key])
    return args
