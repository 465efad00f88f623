"""Start and stop the Agent Server (``langgraph-api`` with the ``langgraph-runtime-pg`` runtime) as a subprocess.

The server comes from its own locked environment, ``tests/integration/server`` (``uv sync --project
tests/integration/server --locked``, which ``.ci/run`` does). A missing environment fails the test with an
install hint; it is never skipped. The process is started as ``uvicorn langgraph_api.server:app
--log-config <site-packages>/logging.json`` on a free loopback port, in its own session, and stopped with
terminate → wait → kill (only the process started here).

:func:`start_queue` starts the queue role the way the image's ``/storage/queue_entrypoint.sh`` does,
``python -m langgraph_api.queue_entrypoint``, with the same working directory and environment rules; it is ready
once the Workload's startup probe (``probe_paths(MOUNT_PREFIX)[1]``) answers 200 on its ``PORT``.

Both roles render ``PORT`` (``SERVER_PORT``, 8000). Tests cannot bind that port (several servers run at once and
8000 may be taken on the machine), so every process started here gets a free loopback port in ``PORT`` instead
(the API also as ``--port``, which is what the image's entrypoint does with ``$PORT``).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from agent_server_infra.env import managed_names
from agent_server_infra.workload import probe_paths

from .servers import (
    HOST,
    STARTUP_TIMEOUT,
    ServerStartupError,
    free_port,
    log_tail,
    spawn_logged,
    stop_process,
    wait_until,
)

APP = "langgraph_api.server:app"
QUEUE_MODULE = "langgraph_api.queue_entrypoint"
#: The server imports its graphs, runtime and OpenAPI schema at startup; on a cold CI machine that is slower than
#: the ~2 s measured locally.
SERVER_TIMEOUT = max(STARTUP_TIMEOUT, 60.0)
#: Variables that are not ours to render (the library leaves them to the image or the runtime).
#: ``SSL_CERT_FILE`` makes the server trust the throwaway CA: see :func:`start_agent_server`.
NOT_OURS = frozenset({"LANGGRAPH_RUNTIME_EDITION", "LANGSERVE_GRAPHS", "SSL_CERT_FILE"})
#: The queue's health server binds ``LANGGRAPH_SERVER_HOST`` (langgraph-api's internal knob, default ``0.0.0.0``);
#: the tests keep it on loopback like the API's ``--host``.
QUEUE_NOT_OURS = NOT_OURS | {"LANGGRAPH_SERVER_HOST"}
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


SERVER_PROJECT = Path(__file__).resolve().parent / "server"
SERVER_PYTHON = SERVER_PROJECT / ".venv" / "bin" / "python"
_PROBE = (
    "import importlib.metadata, importlib.util\n"
    "for name in ('langgraph_api', 'langgraph_runtime_pg', 'uvicorn'):\n"
    "    assert importlib.util.find_spec(name), name\n"
    "print(importlib.metadata.distribution('langgraph-api').locate_file('logging.json'))\n"
)


def server_version() -> str:
    """The langgraph-api version installed in the server environment."""
    code = "import importlib.metadata as m; print(m.version('langgraph-api'))"
    probe = subprocess.run([str(SERVER_PYTHON), "-c", code], capture_output=True, text=True, check=True)
    return probe.stdout.strip()


def logging_config() -> Path:
    """``<site-packages>/logging.json`` shipped by langgraph-api; fails when the server environment is missing."""
    probe = subprocess.run([str(SERVER_PYTHON), "-c", _PROBE], capture_output=True, text=True, check=False) \
        if SERVER_PYTHON.exists() else None
    if probe is None or probe.returncode != 0:
        detail = probe.stderr.strip().splitlines()[-1] if probe is not None and probe.stderr.strip() else "no venv"
        pytest.fail(
            f"the Agent Server test needs its environment in {SERVER_PROJECT} ({detail}); install it with "
            "`uv sync --project tests/integration/server --locked` (.ci/run does)",
            pytrace=False,
        )
    path = Path(probe.stdout.strip())
    if not path.is_file():
        pytest.fail(f"langgraph-api no longer ships {path}; update tests/integration/agent_server_process.py",
                    pytrace=False)
    return path


@dataclass
class AgentServerProcess:
    """A running (or exited) ``uvicorn langgraph_api.server:app``; as a context manager, stopped on exit."""

    root: str
    """``http://127.0.0.1:port`` without the mount prefix."""
    prefix: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float = 0.0
    role: str = "api"
    """``api`` (uvicorn) or ``queue`` (``langgraph_api.queue_entrypoint``, whose root serves only ``/ok`` and
    ``/metrics``, at the root and under the prefix)."""

    @property
    def url(self) -> str:
        """Base URL of the API: the root plus ``MOUNT_PREFIX``."""
        return self.root + self.prefix

    @property
    def port(self) -> int:
        return int(self.root.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: Any = None, *, prefixed: bool = True,
                timeout: float = 30) -> tuple[int, Any]:
        """``(status, decoded JSON body or None)``; HTTP errors are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request((self.url if prefixed else self.root) + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                raw = response.read()
                status: int = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def wait_exit(self, timeout: float = SERVER_TIMEOUT) -> int:
        """The exit status, once the process has exited on its own (bounded wait); stopped in any case."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the Agent Server was still running after {timeout:.0f}s:\n"
                                 f"{log_tail(self.log_path)}") from None
        finally:
            self.stop()

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _server_env(
    rendered: Mapping[str, str],
    *,
    graphs: Mapping[str, str],
    ca_cert: Path,
    not_ours: frozenset[str],
    extra_env: Mapping[str, str] | None,
) -> dict[str, str]:
    """The pass-through variables, ``rendered``, what is not ours and ``extra_env`` (the runtime's own knobs a test
    sets, e.g. ``LG_BG_JOB_HEARTBEAT``: never a variable the library renders or one added here)."""
    ours = set(rendered) & not_ours
    assert not ours, f"the library renders {sorted(ours)}, which the test means to add itself"
    assert not not_ours & managed_names()
    extra = dict(extra_env or {})
    clash = set(extra) & (managed_names() | not_ours | set(rendered))
    assert not clash, f"extra_env may not override {sorted(clash)}: the library or the harness sets them"
    env = {name: os.environ[name] for name in _PASS_THROUGH if name in os.environ}
    env.update(rendered)
    env.update(
        LANGGRAPH_RUNTIME_EDITION="pg",
        LANGSERVE_GRAPHS=json.dumps(dict(graphs)),
        SSL_CERT_FILE=str(ca_cert),
    )
    env.update(extra)
    return env


def _launch(
    command: Callable[[int], list[str]],
    env: Mapping[str, str],
    *,
    role: str,
    prefix: str,
    directory: Path,
    log_name: str,
    ready: Callable[[AgentServerProcess], bool],
    wait_ready: bool,
    timeout: float,
) -> AgentServerProcess:
    """Start ``command(port)`` on a free port with ``PORT=port`` and wait until ``ready``; a lost free-port race
    (``address already in use`` in the log) retries with a new port, three times."""
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / log_name
    started = time.monotonic()
    last_error: ServerStartupError | None = None
    for _attempt in range(3):
        port = free_port()
        offset = log_path.stat().st_size if log_path.exists() else 0
        # The rendered PORT (SERVER_PORT, 8000) cannot be bound here: every process gets a free port instead.
        proc = spawn_logged(command(port), log_path, death_signal=signal.SIGTERM, cwd=directory,
                            env={**env, "PORT": str(port)})
        server = AgentServerProcess(root=f"http://{HOST}:{port}", prefix=prefix, proc=proc, log_path=log_path,
                                    role=role)
        if not wait_ready:
            return server
        try:
            wait_until(functools.partial(ready, server), what=f"Agent Server ({role}) on {HOST}:{port}", proc=proc,
                       log_path=log_path, timeout=max(1.0, timeout - (time.monotonic() - started)), interval=0.1)
        except ServerStartupError as exc:
            last_error = exc
            stop_process(proc)
            if b"address already in use" in log_path.read_bytes()[offset:].lower():
                continue  # lost the free-port race
            raise
        except BaseException:
            stop_process(proc)
            raise
        server.startup_seconds = time.monotonic() - started
        return server
    assert last_error is not None
    raise last_error


def _api_ready(server: AgentServerProcess) -> bool:
    status, body = server.request("GET", "/ok", timeout=2)
    return status == 200 and body == {"ok": True}


def _startup_probe_passes(server: AgentServerProcess) -> bool:
    _live, startup = probe_paths(server.prefix or None)
    status, _body = server.request("GET", startup, prefixed=False, timeout=2)
    return status == 200


def start_agent_server(
    rendered: Mapping[str, str],
    *,
    graphs: Mapping[str, str],
    ca_cert: Path,
    directory: Path,
    wait_ready: bool = True,
    timeout: float = SERVER_TIMEOUT,
    extra_env: Mapping[str, str] | None = None,
    log_name: str = "agent-server.log",
) -> AgentServerProcess:
    """Start the server with the environment our library rendered plus only what is not ours.

    ``rendered`` is ``render_env(...).merged()``. Added: ``LANGGRAPH_RUNTIME_EDITION=pg`` (pick the MIT runtime),
    ``LANGSERVE_GRAPHS`` (the graphs to serve) and ``SSL_CERT_FILE=ca_cert``: the runtime turns
    ``sslmode=require`` into asyncpg's ``ssl=True``, which asyncpg treats as verify-full against the system trust
    store (through truststore), so the server must trust the CA that signed the Postgres (and Redis) certificate.
    In AWS that CA is the RDS CA bundle. With ``wait_ready`` the call returns once ``<prefix>/ok`` answers 200.
    ``PORT`` is replaced by the free port the server listens on (see the module docstring); ``extra_env`` adds
    runtime knobs the library does not render.
    """
    config = logging_config()
    env = _server_env(rendered, graphs=graphs, ca_cert=ca_cert, not_ours=NOT_OURS, extra_env=extra_env)

    def command(port: int) -> list[str]:
        return [str(SERVER_PYTHON), "-m", "uvicorn", APP, "--host", HOST, "--port", str(port),
                "--log-config", str(config)]

    return _launch(command, env, role="api", prefix=rendered.get("MOUNT_PREFIX", ""), directory=directory,
                   log_name=log_name, ready=_api_ready, wait_ready=wait_ready, timeout=timeout)


def start_queue(
    rendered: Mapping[str, str],
    *,
    graphs: Mapping[str, str],
    ca_cert: Path,
    directory: Path,
    name: str = "queue",
    wait_ready: bool = True,
    timeout: float = SERVER_TIMEOUT,
    extra_env: Mapping[str, str] | None = None,
) -> AgentServerProcess:
    """Start the queue role: ``python -m langgraph_api.queue_entrypoint``, as the image's queue entrypoint does.

    Same environment rules as :func:`start_agent_server` (``rendered`` should be the ``role="queue"`` render),
    plus ``LANGGRAPH_SERVER_HOST=127.0.0.1``; its health and metrics server binds ``PORT``, here a free port. It
    is ready once the Workload's startup probe, ``probe_paths(MOUNT_PREFIX)[1]`` (``/ok?check_db=1``), answers
    200; the health server only starts after the runtime's start-up (migrations, pool, graphs, queue) is done.
    The log is ``directory/<name>.log``.
    """
    logging_config()  # fails with the install hint when the server environment is missing
    env = _server_env(rendered, graphs=graphs, ca_cert=ca_cert, not_ours=QUEUE_NOT_OURS, extra_env=extra_env)
    env["LANGGRAPH_SERVER_HOST"] = HOST

    def command(_port: int) -> list[str]:
        return [str(SERVER_PYTHON), "-m", QUEUE_MODULE]

    return _launch(command, env, role="queue", prefix=rendered.get("MOUNT_PREFIX", ""), directory=directory,
                   log_name=f"{name}.log", ready=_startup_probe_passes, wait_ready=wait_ready, timeout=timeout)
