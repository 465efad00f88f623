"""Start and stop the Agent Server (``langgraph-api`` with the ``langgraph-runtime-pg`` runtime) as a subprocess.

The server comes from its own locked environment, ``tests/integration/server`` (``uv sync --project
tests/integration/server --locked``, which ``.ci/run`` does). A missing environment fails the test with an
install hint; it is never skipped. The process is started as ``uvicorn langgraph_api.server:app
--log-config <site-packages>/logging.json`` on a free loopback port, in its own session, and stopped with
terminate → wait → kill (only the process started here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent_server_infra.env import managed_names

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
#: The server imports its graphs, runtime and OpenAPI schema at startup; on a cold CI machine that is slower than
#: the ~2 s measured locally.
SERVER_TIMEOUT = max(STARTUP_TIMEOUT, 60.0)
#: Variables that are not ours to render (the library leaves them to the image or the runtime).
#: ``SSL_CERT_FILE`` makes the server trust the throwaway CA: see :func:`start_agent_server`.
NOT_OURS = frozenset({"LANGGRAPH_RUNTIME_EDITION", "LANGSERVE_GRAPHS", "SSL_CERT_FILE"})
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
    """A running (or exited) ``uvicorn langgraph_api.server:app``."""

    root: str
    """``http://127.0.0.1:port`` without the mount prefix."""
    prefix: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float = 0.0

    @property
    def url(self) -> str:
        """Base URL of the API: the root plus ``MOUNT_PREFIX``."""
        return self.root + self.prefix

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
        """The exit status, once the process has exited on its own (bounded wait)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the Agent Server was still running after {timeout:.0f}s:\n"
                                 f"{log_tail(self.log_path)}") from None

    def stop(self) -> None:
        stop_process(self.proc)


def start_agent_server(
    rendered: Mapping[str, str],
    *,
    graphs: Mapping[str, str],
    ca_cert: Path,
    directory: Path,
    wait_ready: bool = True,
    timeout: float = SERVER_TIMEOUT,
) -> AgentServerProcess:
    """Start the server with the environment our library rendered plus only what is not ours.

    ``rendered`` is ``render_env(...).merged()``. Added: ``LANGGRAPH_RUNTIME_EDITION=pg`` (pick the MIT runtime),
    ``LANGSERVE_GRAPHS`` (the graphs to serve) and ``SSL_CERT_FILE=ca_cert``: the runtime turns
    ``sslmode=require`` into asyncpg's ``ssl=True``, which asyncpg treats as verify-full against the system trust
    store (through truststore), so the server must trust the CA that signed the Postgres (and Redis) certificate.
    In AWS that CA is the RDS CA bundle. With ``wait_ready`` the call returns once ``<prefix>/ok`` answers 200.
    """
    config = logging_config()
    ours = set(rendered) & NOT_OURS
    assert not ours, f"the library renders {sorted(ours)}, which the test means to add itself"
    assert not NOT_OURS & managed_names()
    env = {name: os.environ[name] for name in _PASS_THROUGH if name in os.environ}
    env.update(rendered)
    env.update(
        LANGGRAPH_RUNTIME_EDITION="pg",
        LANGSERVE_GRAPHS=json.dumps(dict(graphs)),
        SSL_CERT_FILE=str(ca_cert),
    )
    prefix = rendered.get("MOUNT_PREFIX", "")
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "agent-server.log"
    started = time.monotonic()
    last_error: ServerStartupError | None = None
    for _attempt in range(3):
        port = free_port()
        offset = log_path.stat().st_size if log_path.exists() else 0
        proc = spawn_logged(
            [str(SERVER_PYTHON), "-m", "uvicorn", APP, "--host", HOST, "--port", str(port),
             "--log-config", str(config)],
            log_path, death_signal=signal.SIGTERM, cwd=directory, env=env,
        )
        server = AgentServerProcess(root=f"http://{HOST}:{port}", prefix=prefix, proc=proc, log_path=log_path)
        if not wait_ready:
            return server

        def _ready(server: AgentServerProcess = server) -> bool:
            status, body = server.request("GET", "/ok", timeout=2)
            return status == 200 and body == {"ok": True}

        try:
            wait_until(_ready, what=f"Agent Server on {HOST}:{port}", proc=proc, log_path=log_path,
                       timeout=max(1.0, timeout - (time.monotonic() - started)), interval=0.1)
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
