"""Make mock runs cost about what importing the SDKs costs (see ``benchmarks/plan_speed.py``).

- SDK subpackages load one submodule per class used, not the whole service (:func:`thin_sdk_packages`);
- for the duration of a mock run, the SDK skips work only a real engine needs and does the rest with fewer
  detours: no stack traces, monitor calls inline, cached type lookups, direct protobuf (de)coding, no garbage
  collection (:func:`offline_runtime`).

Each replacement is checked against the code it stands in for by ``tests/plan/test_engine_speedups.py`` and
``tests/plan/test_stock_sdk_equivalence.py`` (whole plans with and without them); nothing here changes what a
program registers or records.
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import contextlib
import enum
import functools
import gc
import importlib
import inspect
import logging
import os
import re
import sys
import types
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi import _utils as _pulumi_utils
from pulumi import log as pulumi_log
from pulumi import resource as pulumi_resource
from pulumi.output import Unknown, _OutputData
from pulumi.runtime import resource as pulumi_resource_runtime
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop

VERIFIED_SDK: tuple[tuple[int, int, int], tuple[int, int, int]] = ((3, 272, 0), (3, 273, 0))
"""The ``pulumi`` SDK versions ``tests/plan/test_stock_sdk_equivalence.py`` has verified :func:`offline_runtime`
on, as ``[lowest, first not verified)``. Pulumi releases weekly and the shortcuts replace private functions, so
another version runs the SDK as shipped. Move the range deliberately: run the suite against the new version with
the shortcuts forced on (``SHORTCUTS_ENV=1``, the command in the README), then widen it."""
SHORTCUTS_ENV = "AGENT_SERVER_INFRA_SDK_SHORTCUTS"
"""``1`` forces the shortcuts on any SDK version (to verify one), ``0`` switches them off."""
_NOTICE: list[str] = []


def sdk_version() -> tuple[int, int, int]:
    """The installed ``pulumi`` SDK's release number."""
    from importlib import metadata

    major, minor, patch = ([int(part) for part in re.findall(r"\d+", metadata.version("pulumi"))] + [0, 0, 0])[:3]
    return major, minor, patch


def use_shortcuts() -> bool:
    """Whether a mock run may use :func:`offline_runtime`: on a verified SDK (or when forced); otherwise the
    first refusal of a process says so on stderr, once."""
    forced = os.environ.get(SHORTCUTS_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    version = sdk_version()
    low, high = VERIFIED_SDK
    if low <= version < high:
        return True
    if not _NOTICE:
        shown = ".".join(map(str, version))
        _NOTICE.append(shown)
        print(f"agent-server-infra: pulumi {shown} is outside the SDK versions the plan's shortcuts are verified on "
              f"({'.'.join(map(str, low))} to before {'.'.join(map(str, high))}): running the SDK as shipped "
              f"(same plan, slower)", file=sys.stderr)
    return False


class _Decoded:
    """The properties of a monitor response, handed to the SDK already decoded.

    The stock mock monitor encodes the mocks' state into a ``Struct`` that the SDK decodes straight back
    (``rpc.resolve_outputs``), although most of it is the request's own inputs, which the monitor has just
    decoded. :func:`_deserialize_properties` recognises this holder and returns its values: the same values
    the round trip would give, without it.
    """

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values


_NOT_PLAIN_DECODED = [0]
"""How many unknown values and special objects (assets, resource references, output values) the decoder has met:
a request with one takes the stock path."""



_SDK_PACKAGES = ("pulumi_aws.", "pulumi_kubernetes.", "pulumi_random.")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SUBMODULES: dict[str, tuple[frozenset[str], frozenset[str]]] = {}


def _submodules(package: types.ModuleType) -> tuple[frozenset[str], frozenset[str]]:
    """The module files and the subpackages of a package, by name."""
    name = package.__name__
    if name not in _SUBMODULES:
        files: set[str] = set()
        packages: set[str] = set()
        for directory in package.__path__:
            for entry in os.scandir(directory):
                if entry.name.endswith(".py"):
                    files.add(entry.name[:-3])
                elif entry.is_dir() and not entry.name.startswith("__"):
                    packages.add(entry.name)
        _SUBMODULES[name] = (frozenset(files), frozenset(packages))
    return _SUBMODULES[name]


def _candidates(attr: str) -> list[str]:
    """Where pulumi codegen puts ``attr``: ``SecurityGroup`` in ``security_group`` (aws) or ``SecurityGroup``
    (kubernetes), its ``…Args`` next to it or in ``_inputs``, output types in ``outputs``, enums in ``_enums``."""
    base = attr.removesuffix("ArgsDict").removesuffix("Args")
    names = [attr, _CAMEL_BOUNDARY.sub("_", attr).lower()]
    if base != attr:
        names += [base, _CAMEL_BOUNDARY.sub("_", base).lower()]
    return [*dict.fromkeys([*names, "_inputs", "outputs", "_enums"])]


class _ThinPackage(types.ModuleType):
    """A generated SDK subpackage that loads one submodule per name asked for (see the note above).

    ``aws.ec2.SecurityGroup`` imports ``pulumi_aws.ec2.security_group`` (which imports the package's ``_inputs``
    and ``outputs`` itself); ``k8s.core.v1`` becomes a thin package of its own, as the SDK's ``__init__`` would
    have made it a lazy one; a name found nowhere loads the whole package the SDK's way and answers from it.
    """

    def __getattr__(self, attr: str) -> Any:
        if not attr.startswith("__"):
            files, packages = _submodules(self)
            if attr in packages:
                full = f"{self.__name__}.{attr}"
                module = sys.modules.get(full) or _thin_lazy_import(full)
                setattr(self, attr, module)
                return module
            for candidate in _candidates(attr):
                if candidate not in files:
                    continue
                module = importlib.import_module(f"{self.__name__}.{candidate}")
                if attr in vars(module):  # ``Namespace`` the class, not ``Namespace`` the module that defines it
                    value = vars(module)[attr]
                    setattr(self, attr, value)
                    return value
                if candidate == attr:
                    return module
        # Not placed (or a dunder such as __all__): load the package as the SDK would, then answer from it.
        object.__setattr__(self, "__class__", types.ModuleType)
        spec = self.__spec__
        loader = spec.loader if spec is not None else None
        if loader is None:  # pragma: no cover - lazy modules always have a loader
            raise AttributeError(attr)
        loader.exec_module(self)
        return getattr(self, attr)


def _thin(module: types.ModuleType) -> types.ModuleType:
    spec = getattr(module, "__spec__", None)
    if (type(module) is _pulumi_utils._LazyModule  # the SDKs' lazy module type
            and module.__name__.startswith(_SDK_PACKAGES)
            and spec is not None and spec.submodule_search_locations):
        object.__setattr__(module, "__class__", _ThinPackage)
    return module


def _thin_lazy_import(fullname: str) -> types.ModuleType:
    return _thin(_stock_lazy_import(fullname))


_stock_lazy_import = _pulumi_utils.lazy_import


def thin_sdk_packages() -> None:
    """Make the SDKs' lazy subpackages (those already registered and those registered later) thin. Idempotent."""
    _pulumi_utils.lazy_import = _thin_lazy_import
    for module in list(sys.modules.values()):
        if module is not None:
            _thin(module)


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each submitted call at once on the calling thread (a thread pool that never starts a thread: asyncio
    accepts only ``ThreadPoolExecutor`` instances as the default executor).

    The SDK hands every monitor call (register, register outputs, invoke, shutdown) to the event loop's default
    executor because a real monitor is a gRPC server. The mock monitor answers in microseconds; a thread hop per
    call (and the GIL handover that comes with it) costs more than the call. Called from the loop's thread (as
    ``loop.run_in_executor`` does), the result is handed back as a finished *asyncio* future, which
    ``run_in_executor`` returns as is: no cross-thread wake-up through the loop's self-pipe either.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        future: Any = loop.create_future() if loop is not None else concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, as a thread pool does
            future.set_exception(exc)
        return future


_EMPTY_STACK_TRACE = source_pb2.StackTrace()


_PLAIN_TYPES = frozenset({str, bool, int, float, type(None)})
_MAPPING_ORIGINS = (dict, typing.Dict, collections.abc.Mapping, typing.Mapping)  # noqa: UP006 - as the SDK lists them
_stock_serialize_property = rpc.serialize_property


class _Pending:
    """A value inside an input that only the SDK's asynchronous serializer can handle (an output, a resource, an
    awaitable, an asset, an unknown, an enum...), with the arguments the SDK would have recursed with."""

    __slots__ = ("key", "typ", "value")

    def __init__(self, value: Any, typ: Any, key: str | None) -> None:
        self.value, self.typ, self.key = value, typ, key


def _walk(value: Any, typ: Any, key: str | None, transformer: Callable[[str], str] | None,
          pending: list[tuple[Any, Any, _Pending]]) -> Any:
    """What ``rpc.serialize_property`` makes of ``value``, computed without a coroutine per node.

    Follows the stock function branch by branch for the shapes our inputs are made of (plain scalars, exact
    lists, tuples and dicts, ``@input_type`` args classes): the same ``typ`` unwrapping, list element types, key
    translation through the args classes' metadata or ``transformer``, discriminated unions. Anything else is
    returned as a :class:`_Pending` (and, when inside a container, listed in ``pending`` with its place) for
    the stock function to serialize.
    """
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    given = typ
    if typ:
        typ = pulumi_types.unwrap_type(typ)
    if typ is Any:
        typ = None
    if kind is list or kind is tuple:
        try:
            element_type = rpc._get_list_element_type(typ)
        except AssertionError:  # the stock function raises it, with its context
            return _Pending(value, given, key)
        items: list[Any] = []
        for item in value:
            _place(items, len(items), _walk(item, element_type, key, transformer, pending), pending, append=True)
        return items
    if pulumi_types.is_input_type(kind):
        types = pulumi_types.input_type_types(kind)
        result: dict[str, Any] = {}
        for name, item in pulumi_types.input_type_to_dict(value).items():
            _place(result, name, _walk(item, types.get(name), key, transformer, pending), pending)
        return result
    if kind is dict:
        get_type: Callable[[str], Any] = _no_type
        translate = transformer
        if typ is not None:
            case = pulumi_types.reduce_discriminated_union(typ, value, pulumi_types._py_name_for)
            if case is not None:
                typ = case
            if pulumi_types.is_input_type(typ):
                names = pulumi_types.input_type_py_to_pulumi_names(typ)
                get_type = pulumi_types.input_type_types(typ).get
                translate = functools.partial(_translated, names)
            else:
                is_map, value_type = _map_shape(typ)
                if value_type is not None:
                    get_type = functools.partial(_constant, value_type)
                if value_type is not None or not is_map:  # the keys are the user's, not property names
                    translate = None
        mapping: dict[Any, Any] = {}
        for name in value:
            wire_name = translate(name) if translate is not None else name
            _place(mapping, wire_name, _walk(value[name], get_type(wire_name), name, transformer, pending), pending)
        return mapping
    return _Pending(value, given, key)


def _place(container: Any, slot: Any, item: Any, pending: list[tuple[Any, Any, _Pending]],
           append: bool = False) -> None:
    if type(item) is _Pending:
        pending.append((container, slot, item))
    if append:
        container.append(item)
    else:
        container[slot] = item


def _no_type(_key: str) -> Any:
    return None


def _constant(value: Any, _key: str) -> Any:
    return value


def _translated(names: dict[str, str], key: str) -> str:
    return names.get(key) or key


async def _ready(value: Any) -> Any:
    return value


def _serialize_property(value: Any, deps: list[Any] | None, property_key: str | None, resource_obj: Any = None,
                        input_transformer: Callable[[str], str] | None = None, typ: Any = None,
                        keep_output_values: bool = False, exclude_resource_refs_from_deps: bool = False,
                        return_protobuf_value: bool = False) -> Awaitable[Any]:
    """``rpc.serialize_property`` with the plain parts of a value serialized synchronously (:func:`_walk`).

    The stock function is a coroutine per node: a Deployment's spec is a few hundred awaits although only a
    handful of its leaves (the names of a ConfigMap or a Secret) are outputs. Here the plain parts are copied
    at once and each remaining leaf is handed to the stock function, in the order the stock function would
    reach it, so outputs are awaited and dependencies collected in the same order. A value that is itself not
    plain, and a request for a protobuf ``Value``, take the stock path unchanged.
    """
    if not return_protobuf_value:
        if type(value) in _PLAIN_TYPES:
            return _ready(value)
        pending: list[tuple[Any, Any, _Pending]] = []
        result = _walk(value, typ, property_key, input_transformer, pending)
        if type(result) is not _Pending:
            if not pending:
                return _ready(result)
            return _fill(result, pending, deps, resource_obj, input_transformer, keep_output_values,
                         exclude_resource_refs_from_deps)
    return _stock_serialize_property(value, deps, property_key, resource_obj, input_transformer, typ,
                                     keep_output_values, exclude_resource_refs_from_deps, return_protobuf_value)


async def _fill(result: Any, pending: list[tuple[Any, Any, _Pending]], deps: list[Any] | None, resource_obj: Any,
                transformer: Callable[[str], str] | None, keep_output_values: bool, exclude_refs: bool) -> Any:
    for container, slot, item in pending:
        container[slot] = await _stock_serialize_property(item.value, deps, item.key, resource_obj, transformer,
                                                          item.typ, keep_output_values, exclude_refs)
    return result


def _memoized(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` cached by its (hashable) argument; anything unhashable is passed through uncached."""
    cached = functools.cache(function)

    def call(argument: Any) -> Any:
        try:
            return cached(argument)
        except TypeError:  # unhashable
            return function(argument)

    return call


def _map_shape_of(typ: Any) -> tuple[bool, Any]:
    """Whether ``typ`` is a dict annotation (``dict``, ``Dict[...]``, ``Mapping[...]``), and the type of its values
    when it is keyed by ``str`` (else ``None``): the question both SDK functions ask of every dict they meet."""
    if typ is dict or typing.get_origin(typ) in _MAPPING_ORIGINS:
        args = typing.get_args(typ)
        return True, args[1] if len(args) == 2 and args[0] is str else None
    return False, None


_map_shape = _memoized(_map_shape_of)
_unwrap_optional_type = _memoized(pulumi_types.unwrap_optional_type)
_is_discriminated_union = _memoized(pulumi_types.is_discriminated_union)
_SIG = rpc._special_sig_key
_SECRET_SIG = rpc._special_secret_sig
_stock_deserialize_properties = rpc.deserialize_properties


def _deserialize_properties(props: struct_pb2.Struct, keep_unknowns: bool | None = None,
                            keep_internal: bool | None = True) -> Any:
    """``rpc.deserialize_properties``, reading the protobuf ``Value`` oneofs directly.

    The stock function walks a ``Struct`` through the pure-Python ``well_known_types`` mixins (``items()`` builds
    a list of pairs, ``__getitem__`` asks ``WhichOneof`` again, every value is compared with the unknown sentinel
    before its type is known). This one keeps its semantics to the letter, secrets pushed up to the enclosing
    list or map, unknowns, ``None`` dropped from maps, internal keys, and hands every other special object
    (assets, archives, resource references, output values) to the stock function.
    """
    if type(props) is _Decoded:
        return dict(props.values)
    fields = props.fields
    if _SIG in fields:
        if fields[_SIG].string_value != _SECRET_SIG or "value" not in fields:
            _NOT_PLAIN_DECODED[0] += 1
            return _stock_deserialize_properties(props, keep_unknowns, keep_internal)
        # As the stock function: the secret's value is decoded with the default options.
        return rpc.wrap_rpc_secret(_from_value(fields["value"], None, True))
    output: dict[str, Any] = {}
    for key, field_value in fields.items():
        if keep_internal is False and key.startswith("__") and key != "__provider":
            continue
        value = _from_value(field_value, keep_unknowns, keep_internal)
        if value is not None:
            output[key] = value
    return output


def _has_secret(values: Iterable[Any]) -> bool:
    """``any(rpc.is_rpc_secret(value) for value in values)``, without a generator."""
    for value in values:  # noqa: SIM110 - a loop: this runs for every decoded map and list
        if isinstance(value, dict) and _SIG in value and value[_SIG] == _SECRET_SIG:
            return True
    return False


def _from_struct(props: struct_pb2.Struct, keep_unknowns: bool | None, keep_internal: bool | None) -> Any:
    result = _deserialize_properties(props, keep_unknowns, keep_internal)
    if isinstance(result, dict) and _has_secret(result.values()):
        return rpc.wrap_rpc_secret({key: rpc.unwrap_rpc_secret(item) for key, item in result.items()})
    return result


def _from_list(values: Iterable[Any], keep_unknowns: bool | None, keep_internal: bool | None) -> Any:
    items = [_from_value(item, keep_unknowns, keep_internal) for item in values]
    if _has_secret(items):
        return rpc.wrap_rpc_secret([rpc.unwrap_rpc_secret(item) for item in items])
    return items


def _from_value(value: struct_pb2.Value, keep_unknowns: bool | None, keep_internal: bool | None) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        if text == rpc.UNKNOWN:
            _NOT_PLAIN_DECODED[0] += 1
            return Unknown() if pulumi_settings.is_dry_run() or keep_unknowns else None
        return text
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _from_struct(value.struct_value, keep_unknowns, keep_internal)
    if kind == "list_value":
        return _from_list(value.list_value.values, keep_unknowns, keep_internal)
    if kind == "null_value":
        return None
    raise ValueError("Value not set")


def _deserialize_property(value: Any, keep_unknowns: bool | None = None, keep_internal: bool | None = True) -> Any:
    """``rpc.deserialize_property`` on top of :func:`_deserialize_properties` (same semantics)."""
    if isinstance(value, struct_pb2.Struct):
        return _from_struct(value, keep_unknowns, keep_internal)
    if isinstance(value, struct_pb2.ListValue):
        return _from_list(value.values, keep_unknowns, keep_internal)
    if value == rpc.UNKNOWN:
        return Unknown() if pulumi_settings.is_dry_run() or keep_unknowns else None
    return value


_stock_create_urn = pulumi_resource_runtime.create_urn


def _create_urn(name: Any, type_: Any, parent: Any = None, project: str | None = None,
                stack: str | None = None) -> Any:
    """``create_urn`` computed at once when every part is a plain string. The SDK builds a URN this way for
    every registration (as the answer it would fake without a monitor) through three chained outputs."""
    if isinstance(name, str) and isinstance(type_, str) and (parent is None or isinstance(parent, str)):
        if parent is not None:
            prefix = parent[0 : parent.rfind("::")] + "$"
        else:
            prefix = (f"urn:pulumi:{stack if stack is not None else pulumi_settings.get_stack()}::"
                      f"{project if project is not None else pulumi_settings.get_project()}::")
        return pulumi.Output.from_input(prefix + type_ + "::" + name)
    return _stock_create_urn(name, type_, parent, project, stack)


def _transfer_properties(res: Any, props: Any, custom: bool) -> dict[str, Callable[..., None]]:
    """``rpc.transfer_properties`` with one future per output property instead of four and a task.

    The stock function gives every input property of a registration an :class:`~pulumi.Output` whose data is a
    task awaiting four futures (dependencies, value, known, secret) that its resolver fills one after the other:
    a task and five loop wake-ups per property, forty properties per Deployment-sized plan step. Here the
    resolver fills the output's data at once with the same :class:`~pulumi.output._OutputData` (the resource
    added to the dependencies, an exception for a failed registration), as the SDK's own ``resource_output``
    does for ``urn`` and ``id``.
    """
    resolvers: dict[str, Callable[..., None]] = {}
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue
        data: asyncio.Future[Any] = asyncio.Future()
        resolvers[name] = functools.partial(_resolve_output_data, res, data)
        res.__dict__[name] = pulumi.Output._from_data(data)
    return resolvers


def _resolve_output_data(res: Any, data: asyncio.Future[Any], value: Any, is_known: bool, is_secret: bool,
                         deps: Any, failed: Exception | None) -> None:
    if failed is not None:
        data.set_exception(failed)
        return
    resources = set(deps) if deps else set()
    resources.add(res)
    data.set_result(_OutputData(resources=resources, value=value, is_known=is_known, is_secret=is_secret))


_stock_translate_output_properties = rpc.translate_output_properties


def _translate_output_properties(output: Any, output_transformer: Callable[[str], str], typ: Any = None,
                                 transform_using_type_metadata: bool = False, path: Any = None,
                                 return_none_on_dict_type_mismatch: bool = False) -> Any:
    """``rpc.translate_output_properties`` (a registration's outputs as the resource's typed output objects)
    without the bookkeeping only an error message needs.

    The stock function allocates a ``_Path`` per node so that a type mismatch can name the property, and
    re-derives each annotation's shape on every node. :func:`_translate` follows it branch by branch with the
    type questions cached; should anything raise, the stock function runs again on the same value and raises
    its own error, path included.
    """
    try:
        return _translate(output, output_transformer, typ, transform_using_type_metadata,
                          return_none_on_dict_type_mismatch)
    except Exception:
        return _stock_translate_output_properties(output, output_transformer, typ, transform_using_type_metadata,
                                                  path, return_none_on_dict_type_mismatch)


def _translate(output: Any, transformer: Callable[[str], str], typ: Any, by_metadata: bool,
               none_on_mismatch: bool) -> Any:
    kind = type(output)
    if not typ and kind in _PLAIN_TYPES:
        return output
    if isinstance(output, dict) and _SIG in output and output[_SIG] == _SECRET_SIG:
        return rpc.wrap_rpc_secret(_translate(output["value"], transformer, typ, by_metadata, none_on_mismatch))
    if typ:
        typ = _unwrap_optional_type(typ)
    if typ is Any:
        typ = None
    if isinstance(output, dict):
        if typ is not None and _is_discriminated_union(typ):
            typ = pulumi_types.reduce_discriminated_union(typ, output, _wire_name)
        value_type: Any = None
        translate = transformer
        if typ is not None:
            if pulumi_types.is_output_type(typ):
                types = pulumi_types.output_type_types(typ)
                return pulumi_types.output_type_from_dict(typ, {
                    key: _translate(value, transformer, types.get(key), by_metadata, none_on_mismatch)
                    for key, value in output.items()})
            is_map, map_value_type = _map_shape(typ)
            if not is_map:
                if none_on_mismatch:
                    return None
                raise AssertionError("a dict where the type says otherwise")  # the stock function says where
            if map_value_type is not None:
                value_type = map_value_type
                if by_metadata:
                    translate = _same_name
        return {translate(key): _translate(value, transformer, value_type, by_metadata, none_on_mismatch)
                for key, value in output.items()}
    if isinstance(output, list):
        element_type = rpc._get_list_element_type(typ)
        return [_translate(value, transformer, element_type, by_metadata, none_on_mismatch) for value in output]
    if typ and isinstance(output, int | float | str) and inspect.isclass(typ) and issubclass(typ, enum.Enum):
        return typ(output)
    if isinstance(output, float) and typ is int:
        return int(output)
    return output


def _same_name(name: str) -> str:
    return name


def _wire_name(_cls: type, name: str) -> str:
    return name


_stock_collapse_alias_to_urn = pulumi_resource_runtime.collapse_alias_to_urn


def _collapse_alias_to_urn(alias: Any, default_name: str, default_type: str, default_parent: Any) -> Any:
    """``collapse_alias_to_urn`` of a plain :class:`pulumi.Alias` in one step instead of ten.

    Every Kubernetes resource carries aliases for its older API versions (a Deployment three, an autoscaler
    three), and the SDK turns each into a URN through a chain of outputs (``from_input``, ``apply``, ``all``,
    ``create_urn``'s own ``apply``/``all``) although only the parent's URN is ever awaited. Same value, same
    dependency on the parent; anything but plain strings (outputs, a URN string as the alias, a missing name)
    takes the stock path.
    """
    if type(alias) is pulumi.Alias:
        name = default_name if alias.name is ... else alias.name
        type_ = default_type if alias.type_ is ... else alias.type_
        parent = default_parent if alias.parent is ... else alias.parent
        project = pulumi_settings.get_project() if alias.project is ... or alias.project is None else alias.project
        stack = pulumi_settings.get_stack() if alias.stack is ... or alias.stack is None else alias.stack
        if isinstance(name, str) and isinstance(type_, str) and isinstance(project, str) and isinstance(stack, str):
            if parent is None or isinstance(parent, str):
                return _create_urn(name, type_, parent, project, stack)
            if isinstance(parent, pulumi.Resource):
                suffix = f"${type_}::{name}"
                return parent.urn.apply(lambda urn: urn[0 : urn.rfind("::")] + suffix)
    return _stock_collapse_alias_to_urn(alias, default_name, default_type, default_parent)


def _contains_unknowns(value: Any) -> bool:
    """``rpc.contains_unknowns`` without a generator per container: the SDK asks this of every output value,
    again at each level of ``apply``/``all``, and the workload's specs are large. Same answer: whether an
    :class:`~pulumi.output.Unknown` is reachable through dicts and lists (each container visited once)."""
    pending = [value]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _PLAIN_TYPES:
            continue
        if isinstance(item, Unknown):
            return True
        if id(item) in seen:
            continue
        seen.add(id(item))
        if kind is dict:
            pending.extend(item.values())
        elif isinstance(item, dict):
            pending.extend(item[key] for key in item)
        elif isinstance(item, list):
            pending.extend(item)
    return False


class _SweptOutputs(set[Any]):
    """``SETTINGS.outputs`` for a mock run: what the SDK tracks so that ``wait_for_rpcs`` can wait for every
    output still pending, or re-raise a failed one, at the end of the program.

    The stock ``Output._track`` adds each output's data to the set and removes it again from a done-callback,
    a loop callback per output (a third of all a plan's loop callbacks). Here outputs are only added
    (:func:`_track`) and the finished, successful ones are swept out whenever the set is read. ``wait_for_rpcs``
    only reads it through ``len`` and iteration, so it sees exactly what it sees in the stock set once the
    callbacks have run: the pending outputs and the failed ones.
    """

    def _sweep(self) -> None:
        self.difference_update([future for future in set.__iter__(self)
                                if future.done() and not future.cancelled() and future.exception() is None])

    def __len__(self) -> int:
        self._sweep()
        return set.__len__(self)

    def __iter__(self) -> Iterator[Any]:
        self._sweep()
        return set.__iter__(self)


def _track(self: pulumi.Output[Any]) -> None:
    """``Output._track`` without a done-callback per output (see :class:`_SweptOutputs`)."""
    settings: Any = pulumi_settings.SETTINGS  # context-variable descriptors pyright cannot follow
    with settings.lock:
        settings.outputs.add(self._data)


def _no_debug(*_args: Any, **_kwargs: Any) -> None:
    """``pulumi.log.debug`` under the mock engine when nobody listens at DEBUG: the stock one builds a gRPC
    ``LogRequest`` per message (thousands per plan) that the mock engine's logger then drops."""


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    previous = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, previous)


@contextlib.contextmanager
def offline_runtime() -> Iterator[None]:
    """Switch off the SDK work that only a real engine uses, for the duration of one mock run.

    - ``_get_stack_trace``: every registration walks and formats the Python stack (``traceback.extract_stack``)
      so the engine can point at the line that created the resource; the mock monitor never reads it.
    - ``resource_types`` and ``unwrap_type``: resolving a resource class's output types runs
      ``typing.get_type_hints`` on every registration of a component with annotated outputs, and every property
      (de)serialization unwraps ``Output[Optional[Input[T]]]`` annotations again; both answers depend on the
      class or annotation alone, so they are cached.
    - ``create_urn`` of plain strings is computed at once (see :func:`_create_urn`), and so is
      ``collapse_alias_to_urn`` of plain aliases (see :func:`_collapse_alias_to_urn`),
      ``serialize_property`` copies the plain parts of an input synchronously (see :func:`_serialize_property`),
      ``transfer_properties`` gives each output property one future (see :func:`_transfer_properties`),
      ``translate_output_properties`` builds the typed outputs without error bookkeeping (see
      :func:`_translate_output_properties`),
      ``deserialize_properties`` reads protobuf values directly (see :func:`_deserialize_properties`),
      ``contains_unknowns`` walks without generators (see :func:`_contains_unknowns`), outputs are tracked
      without a done-callback each (see :class:`_SweptOutputs`) and
      ``log.debug`` is silent when the mock engine's logger would drop the message anyway.
    - the loop's default executor runs monitor calls inline (see :class:`_InlineExecutor`).
    - the cyclic garbage collector pauses: a run allocates a few hundred thousand short-lived objects next to the
      SDKs' quarter of a million long-lived ones, and each full collection walks all of them (measured: 7 full
      collections, 0.8 s of a 50-server run). Memory held by cycles is reclaimed after the run.

    Everything is restored afterwards, so the SDK behaves as shipped outside :func:`run`.
    """
    loop = _ensure_event_loop()
    collecting = gc.isenabled()
    previous_executor = getattr(loop, "_default_executor", None)
    loop.set_default_executor(_InlineExecutor())
    with contextlib.ExitStack() as patches:
        patches.enter_context(_patched(pulumi_resource_runtime, "_get_stack_trace", lambda: _EMPTY_STACK_TRACE))
        patches.enter_context(_patched(pulumi_types, "resource_types", _memoized(pulumi_types.resource_types)))
        patches.enter_context(_patched(pulumi_types, "unwrap_type", _memoized(pulumi_types.unwrap_type)))
        patches.enter_context(_patched(pulumi_resource_runtime, "create_urn", _create_urn))
        patches.enter_context(_patched(pulumi_resource, "collapse_alias_to_urn", _collapse_alias_to_urn))
        patches.enter_context(_patched(rpc, "transfer_properties", _transfer_properties))
        patches.enter_context(_patched(rpc, "translate_output_properties", _translate_output_properties))
        patches.enter_context(_patched(rpc, "serialize_property", _serialize_property))
        patches.enter_context(_patched(rpc, "contains_unknowns", _contains_unknowns))
        patches.enter_context(_patched(pulumi.Output, "_track", _track))
        patches.enter_context(_patched(rpc, "deserialize_properties", _deserialize_properties))
        patches.enter_context(_patched(rpc, "deserialize_property", _deserialize_property))
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            patches.enter_context(_patched(pulumi_log, "debug", _no_debug))
        settings: Any = pulumi_settings.SETTINGS  # context-variable descriptors pyright cannot follow
        tracked = settings.outputs
        settings.outputs = _SweptOutputs(tracked)
        gc.disable()
        try:
            yield
        finally:
            if collecting:
                gc.enable()
            settings.outputs = tracked
            loop._default_executor = previous_executor  # type: ignore[attr-defined]


