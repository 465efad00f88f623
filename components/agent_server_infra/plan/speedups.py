"""Make mock runs cost about what importing the SDKs costs (see ``benchmarks/plan_speed.py``).

- SDK subpackages load one submodule per class used, not the whole service (:func:`thin_sdk_packages`);
- for the duration of a mock run, the SDK skips work only a real engine needs and does the rest with fewer
  detours: no stack traces, monitor calls inline, cached type lookups, direct protobuf (de)coding, no garbage
  collection (:func:`offline_runtime`).

Each replacement is checked against the code it stands in for by ``tests/plan/test_engine_speedups.py``; nothing
here changes what a program registers or records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import gc
import importlib
import logging
import os
import re
import sys
import types
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi import _utils as _pulumi_utils
from pulumi import log as pulumi_log
from pulumi.output import Unknown
from pulumi.runtime import resource as pulumi_resource_runtime
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop


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
_stock_serialize_property = rpc.serialize_property


async def _ready(value: Any) -> Any:
    return value


def _serialize_property(value: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]:
    """``rpc.serialize_property`` minus its fifteen type probes for a plain scalar, which it returns unchanged.

    ``str``, ``bool``, ``int``, ``float`` and ``None`` (exact types, not subclasses such as enums) fall through
    every branch of the stock function to ``return value``; the sentinel for unknown values is a ``str`` that is
    returned as itself too. Asking for a protobuf ``Value`` (``return_protobuf_value``) takes the stock path, as
    does everything else (its coroutine is returned as is, so nothing adds a layer to the recursion).
    """
    if type(value) in _PLAIN_TYPES and not kwargs.get("return_protobuf_value"):
        return _ready(value)
    return _stock_serialize_property(value, *args, **kwargs)


def _memoized(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` cached by its (hashable) argument; anything unhashable is passed through uncached."""
    cached = functools.cache(function)

    def call(argument: Any) -> Any:
        try:
            return cached(argument)
        except TypeError:  # unhashable
            return function(argument)

    return call


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


_LEAVES = frozenset({str, bool, int, float, type(None)})


def _contains_unknowns(value: Any) -> bool:
    """``rpc.contains_unknowns`` without a generator per container: the SDK asks this of every output value,
    again at each level of ``apply``/``all``, and the workload's specs are large. Same answer: whether an
    :class:`~pulumi.output.Unknown` is reachable through dicts and lists (each container visited once)."""
    pending = [value]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind in _LEAVES:
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


def _track(self: pulumi.Output[Any]) -> None:
    """``Output._track`` reading the settings once: the stock method looks up ``SETTINGS.lock`` and
    ``SETTINGS.outputs`` (context-variable descriptors) on every output created and again when it resolves.
    The set and the lock are the same objects for the whole run, so they are read once per output."""
    settings: Any = pulumi_settings.SETTINGS  # context-variable descriptors pyright cannot follow
    outputs, lock = settings.outputs, settings.lock
    data = self._data
    with lock:
        outputs.add(data)

    def cleanup(future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # left in the set, for wait_for_rpcs to pick up at program exit
        with lock:
            outputs.discard(future)

    data.add_done_callback(cleanup)


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
    - ``create_urn`` of plain strings is computed at once (see :func:`_create_urn`),
      ``serialize_property`` returns plain scalars at once (see :func:`_serialize_property`),
      ``deserialize_properties`` reads protobuf values directly (see :func:`_deserialize_properties`),
      ``contains_unknowns`` walks without generators (see :func:`_contains_unknowns`), ``Output._track``
      reads the settings once per output (see :func:`_track`) and
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
        patches.enter_context(_patched(rpc, "serialize_property", _serialize_property))
        patches.enter_context(_patched(rpc, "contains_unknowns", _contains_unknowns))
        patches.enter_context(_patched(pulumi.Output, "_track", _track))
        patches.enter_context(_patched(rpc, "deserialize_properties", _deserialize_properties))
        patches.enter_context(_patched(rpc, "deserialize_property", _deserialize_property))
        if not logging.getLogger().isEnabledFor(logging.DEBUG):
            patches.enter_context(_patched(pulumi_log, "debug", _no_debug))
        gc.disable()
        try:
            yield
        finally:
            if collecting:
                gc.enable()
            loop._default_executor = previous_executor  # type: ignore[attr-defined]


