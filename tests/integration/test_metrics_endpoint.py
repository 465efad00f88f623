"""The endpoint the PodMonitor scrapes, on the real server: both roles, started with the env the library renders
with ``server.metrics`` on, answer ``<mountPrefix>/metrics`` on PORT (the pods' ``http`` port) in the Prometheus
text format (langgraph-api 0.11.1: ``api/meta.py`` ``meta_metrics`` and ``queue_entrypoint.py``
``health_and_metrics_server``). ``LSD_PROM_METRICS_ENABLED``/``LSD_PROM_METRICS_PORT`` are rendered and harmless:
no process of this release reads them (the dedicated endpoint the changelog documents is not in the wheel)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_server_infra.prometheus import metrics_path

from .agent_server_process import AgentServerProcess, start_agent_server, start_queue
from .deployments import render_roles, server_stack
from .servers import PostgresServer, RedisServer, TlsMaterial

MOUNT_PREFIX = "/scraped"
GRAPHS = {"echo": f"{Path(__file__).parent / 'graphs' / 'echo.py'}:graph"}
PROMETHEUS_TEXT = "text/plain; version="  # prometheus_client CONTENT_TYPE_LATEST (1.0.0 in 0.26)


def _scrape(process: AgentServerProcess, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(process.root + path, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


@pytest.fixture(scope="module")
def roles(postgres: PostgresServer, redis_tls_server: RedisServer, tls_material: TlsMaterial,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentServerProcess, AgentServerProcess]]:
    raw = server_stack("metrics", mount_prefix=MOUNT_PREFIX, prefix="it-metrics:", database=5,
                       metrics={"enabled": True, "podMonitor": True})
    rendered = render_roles(raw, postgres=postgres, redis=redis_tls_server)
    api_env, queue_env = rendered.api.env, rendered.queue.env
    assert api_env.plain["LSD_PROM_METRICS_ENABLED"] == queue_env.plain["LSD_PROM_METRICS_ENABLED"] == "true"
    directory = tmp_path_factory.mktemp("metrics")
    with (start_agent_server(api_env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert, directory=directory,
                             log_name="api.log") as api_process,
          start_queue(queue_env.merged(), graphs=GRAPHS, ca_cert=tls_material.ca_cert, directory=directory) as queue):
        yield api_process, queue


def test_both_roles_serve_prometheus_text_where_the_pod_monitor_scrapes(
        roles: tuple[AgentServerProcess, AgentServerProcess]) -> None:
    path = metrics_path(MOUNT_PREFIX)
    for process in roles:
        status, content_type, body = _scrape(process, path)
        assert status == 200, process.role
        assert content_type.startswith(PROMETHEUS_TEXT), (process.role, content_type)
        assert "# TYPE " in body, (process.role, body[:200])
