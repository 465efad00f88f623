"""Start and stop real, throwaway PostgreSQL and Redis servers for integration tests.

Everything here runs on free loopback ports inside fresh temporary directories, and every
process is started with :mod:`subprocess` so that teardown stops exactly the processes we
started (never anything found by name).

* PostgreSQL 15: run as an unprivileged user when we are root (postgres refuses root),
  scram-sha-256 password auth, TLS-only TCP on 127.0.0.1 (``hostssl``; plain TCP is rejected).
* Redis: ``requirepass``; optionally TLS-only (``port 0`` + ``tls-port``).
* Redis Cluster: three masters with ``requirepass``/``masterauth``, created with
  ``redis-cli --cluster create``.

Missing binaries make the fixtures *fail* (never skip): see :func:`require_binary`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import redis
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

#: Upper bound for every readiness wait (seconds). Override with INTEGRATION_SERVER_TIMEOUT.
STARTUP_TIMEOUT = float(os.environ.get("INTEGRATION_SERVER_TIMEOUT", "30"))
#: How long a graceful stop may take before we SIGKILL the process we started.
STOP_TIMEOUT = 15.0

PG_BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
#: Unprivileged OS user that runs initdb/postgres when the tests run as root.
PG_OS_USER = os.environ.get("PG_TEST_OS_USER", "pgtest")
HOST = "127.0.0.1"

_INSTALL_HINT = "install them with `.ci/install-services.sh` (on Debian 12, as root or with sudo)"


#: Every character a URI must percent-encode in userinfo (``@ : / ? # [ ] %``, space, ``+ & = ;``, quotes and a
#: backslash) plus non-ASCII. Postgres passwords and Redis ``requirepass`` accept all of them; whatever builds a
#: URI from such a secret must encode it.
HOSTILE_SECRET = "p@ss:/?#[]% wörd€+&=;'\"\\"


def hostile_secret() -> str:
    """A fresh throwaway secret: :data:`HOSTILE_SECRET` plus random URL-safe characters."""
    return f"{HOSTILE_SECRET}-{secrets.token_urlsafe(12)}"


class ServerStartupError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


# --------------------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------------------


def require_binary(path_or_name: str | os.PathLike[str]) -> str:
    """Return the absolute path of an executable, or fail the test (never skip).

    Integration tests are meant to run in CI; a silently skipped integration suite is a
    green build that tested nothing. Locally we fail as well, with an install hint.
    """
    candidate = os.fspath(path_or_name)
    resolved = candidate if os.path.isabs(candidate) else shutil.which(candidate)
    if resolved and os.path.isfile(resolved) and os.access(resolved, os.X_OK):
        return resolved
    where = "in CI (CI is set)" if os.environ.get("CI") else "locally"
    pytest.fail(
        f"integration tests need the executable {candidate!r}, which was not found {where}; {_INSTALL_HINT}.",
        pytrace=False,
    )


_handed_out_ports: set[int] = set()


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 not handed out before by this process.

    There is an unavoidable race between closing the probe socket and the server binding
    the port; the start functions retry with a new port when the bind fails.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port
    raise RuntimeError("could not find a free loopback port")


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "<log is empty>"


def _startup_failure(what: str, reason: str, log_path: Path) -> ServerStartupError:
    return ServerStartupError(f"{what} did not start: {reason}\n--- last lines of {log_path} ---\n{log_tail(log_path)}")


try:  # loaded in the parent: dlopen() between fork and exec is not async-signal-safe
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None
_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(sig: int) -> Callable[[], None] | None:
    """preexec_fn: have the kernel signal the child if pytest dies without running finalizers.

    Runs after the setuid done for ``Popen(user=...)``, which would otherwise clear it.
    """
    libc = _LIBC
    if libc is None or not hasattr(libc, "prctl"):
        return None
    prctl = libc.prctl

    def _preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _preexec


def spawn_logged(
    command: list[str], log_path: Path, *, death_signal: int, cwd: Path, env: Mapping[str, str] | None = None,
    user: str | None = None, group: str | None = None, extra_groups: list[int] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process with stdout and stderr appended to ``log_path``, no stdin, in its own session (a
    terminal Ctrl-C must not race our finalizers), signalled with ``death_signal`` if pytest dies."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            user=user,
            group=group,
            extra_groups=extra_groups,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_set_parent_death_signal(death_signal),
        )


def stop_process(proc: subprocess.Popen[bytes], *, timeout: float = STOP_TIMEOUT) -> None:
    """terminate -> wait -> kill -> wait, for a process *we* started."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=timeout)


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float = STARTUP_TIMEOUT,
    interval: float = 0.05,
) -> None:
    """Poll ``ready()`` until it returns True; fail fast if ``proc`` exits; bounded by timeout."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        code = proc.poll()
        if code is not None:
            raise _startup_failure(what, f"process {proc.pid} exited with status {code}", log_path)
        try:
            if ready():
                return
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error!r}" if last_error else ""
            raise _startup_failure(what, f"not ready after {timeout:.0f}s{detail}", log_path)
        time.sleep(interval)


def _bind_failed(log_path: Path) -> bool:
    text = log_tail(log_path, 80).lower()
    return "address already in use" in text or "could not bind" in text


S = TypeVar("S")


def _launch_with_port_retries(
    launch: Callable[[int], tuple[subprocess.Popen[bytes], S, Callable[[], bool]]],
    *,
    what: str,
    log_path: Path,
    base_dir: Path,
    started: float,
    timeout: float,
) -> S:
    """Start a server on a free port and wait until ``ready``; when another process grabbed the port between
    :func:`free_port` and the bind, try a new port (three times). Any other failure stops what was started,
    removes ``base_dir`` and raises."""
    last_error: ServerStartupError | None = None
    for _attempt in range(3):
        port = free_port()
        proc, server, ready = launch(port)
        remaining = max(1.0, timeout - (time.monotonic() - started))
        try:
            wait_until(ready, what=f"{what} on {HOST}:{port}", proc=proc, log_path=log_path, timeout=remaining,
                       interval=0.1)
        except ServerStartupError as exc:
            last_error = exc
            if proc.poll() is not None and _bind_failed(log_path):
                continue  # lost the free-port race: try another port
            stop_process(proc)
            shutil.rmtree(base_dir, ignore_errors=True)
            raise
        except BaseException:
            stop_process(proc)
            shutil.rmtree(base_dir, ignore_errors=True)
            raise
        return server
    shutil.rmtree(base_dir, ignore_errors=True)
    assert last_error is not None
    raise last_error


def _quote_redis(value: str | os.PathLike[str]) -> str:
    """Quote a value for redis.conf (double-quoted, sdssplitargs escapes)."""
    out = ['"']
    for ch in os.fspath(value):
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 128:
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
    out.append('"')
    return "".join(out)


# --------------------------------------------------------------------------------------
# TLS material (openssl CLI; the `cryptography` package is not a dependency)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsMaterial:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_material(directory: Path) -> TlsMaterial:
    openssl = require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        # clientAuth too: the Redis cluster bus always uses mutual TLS (tls-cluster yes)
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands: list[list[str]] = [
        [
            openssl,
            "req",
            "-x509",
            *ec,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_cert),
            "-days",
            "2",
            "-subj",
            "/CN=agent-server-infra integration test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        [openssl, "req", "-new", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"],
        [
            openssl,
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_cert),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            "2",
            "-extfile",
            str(ext),
        ],
    ]
    for cmd in commands:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed ({result.returncode}): {result.stderr}")
    key.chmod(0o600)
    ca_key.chmod(0o600)
    return TlsMaterial(ca_cert=ca_cert, server_cert=cert, server_key=key)


# --------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresDatabase:
    """Credentials of a database + login role created by :meth:`PostgresServer.create_database`."""

    host: str
    port: int
    dbname: str
    user: str
    password: str
    ca_cert: Path

    def connect_kwargs(self, *, sslmode: str = "require", **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect(**kwargs)`` (no URI involved)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
            "sslmode": sslmode,
            "connect_timeout": 5,
        }
        if sslmode in ("verify-ca", "verify-full"):
            kwargs["sslrootcert"] = str(self.ca_cert)
        kwargs.update(extra)
        return kwargs


@dataclass
class PostgresServer:
    """A running PostgreSQL 15 instance (TLS-only over TCP on 127.0.0.1, scram-sha-256)."""

    host: str
    port: int
    superuser: str
    superuser_password: str
    max_connections: int
    superuser_reserved_connections: int
    ca_cert: Path
    base_dir: Path
    data_dir: Path
    log_path: Path
    version: str
    startup_seconds: float
    _proc: subprocess.Popen[bytes] = field(repr=False)
    _run_as: str | None = field(repr=False)

    @property
    def non_superuser_connections(self) -> int:
        """Connection slots available to ordinary roles: max_connections - reserved."""
        return self.max_connections - self.superuser_reserved_connections

    @property
    def superuser_database(self) -> PostgresDatabase:
        return PostgresDatabase(self.host, self.port, "postgres", self.superuser, self.superuser_password, self.ca_cert)

    def connect(self, dbname: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection[Any]:
        """A superuser connection (sslmode=require)."""
        kwargs = self.superuser_database.connect_kwargs(dbname=dbname)
        return psycopg.connect(**kwargs, autocommit=autocommit)

    def create_database(
        self,
        dbname: str,
        user: str,
        password: str,
        *,
        connection_limit: int | None = None,
    ) -> PostgresDatabase:
        """Create login role ``user`` with ``password`` and database ``dbname`` owned by it.

        Role/database names are quoted as identifiers and the password as a literal with
        :mod:`psycopg.sql`, so arbitrary (hostile) values are safe, e.g. ``p@ss:/?#% wörd``.
        """
        role_stmt = sql.SQL("CREATE ROLE {role} WITH LOGIN PASSWORD {password}").format(
            role=sql.Identifier(user), password=sql.Literal(password)
        )
        if connection_limit is not None:
            role_stmt = sql.SQL("{} CONNECTION LIMIT {}").format(role_stmt, sql.Literal(connection_limit))
        with self.connect() as conn:
            conn.execute(role_stmt)
            conn.execute(
                sql.SQL("CREATE DATABASE {db} OWNER {role}").format(
                    db=sql.Identifier(dbname), role=sql.Identifier(user)
                )
            )
        return PostgresDatabase(self.host, self.port, dbname, user, password, self.ca_cert)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``, then wait for our postmaster; SIGKILL it on timeout."""
        try:
            self.halt()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def halt(self) -> None:
        """An outage: stop the postmaster like :meth:`stop` (``-m fast`` terminates every session, so clients see
        their connections closed and new ones refused) but keep the data directory for :meth:`resume`."""
        if self._proc.poll() is not None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            _pg_run(
                _pg_context(self._run_as, self.base_dir),
                [
                    str(PG_BINDIR / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(STOP_TIMEOUT)),
                ],
                timeout=STOP_TIMEOUT + 5,
            )
        try:
            self._proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()  # the postmaster itself: Popen(user=...) => no wrapper
            self._proc.wait(timeout=STOP_TIMEOUT)

    def resume(self, *, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the halted server again on the same port and data directory; wait until it answers."""
        if self._proc.poll() is None:
            raise RuntimeError(f"postgres :{self.port} is running; halt() it first")
        ctx = _pg_context(self._run_as, self.base_dir)
        self._proc = spawn_logged(
            [str(PG_BINDIR / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)], self.log_path,
            death_signal=signal.SIGQUIT, cwd=ctx.cwd, env=ctx.env, user=ctx.user, group=ctx.group,
            extra_groups=ctx.extra_groups,
        )
        wait_until(lambda: _postgres_ready(self, self._proc.pid), what=f"postgres resumed on {HOST}:{self.port}",
                   proc=self._proc, log_path=self.log_path, timeout=timeout, interval=0.1)


def _ensure_os_user(name: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = require_binary("useradd") if shutil.which("useradd") else require_binary("/usr/sbin/useradd")
        result = subprocess.run(
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode not in (0, 9):  # 9: already exists (created concurrently)
            pytest.fail(f"could not create system user {name!r} for postgres: {result.stderr}", pytrace=False)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


@dataclass(frozen=True)
class _PgProcessContext:
    """How to run postgres binaries: as ``user`` (when we are root) with a clean environment."""

    cwd: Path
    env: dict[str, str]
    user: str | None
    group: str | None
    extra_groups: list[int] | None


def _pg_context(run_as: str | None, home: Path) -> _PgProcessContext:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(HOME=str(home), LC_ALL="C", LANG="C")
    if run_as is None:
        return _PgProcessContext(cwd=home, env=env, user=None, group=None, extra_groups=None)
    group = grp.getgrgid(pwd.getpwnam(run_as).pw_gid).gr_name
    return _PgProcessContext(cwd=home, env=env, user=run_as, group=group, extra_groups=[])


def _pg_run(
    ctx: _PgProcessContext, cmd: list[str], *, timeout: float, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=ctx.cwd,
        env=ctx.env,
        user=ctx.user,
        group=ctx.group,
        extra_groups=ctx.extra_groups,
        stdin=subprocess.DEVNULL,
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def _postmaster_ready(data_dir: Path, pid: int) -> bool:
    """postmaster.pid line 1 is the PID, line 8 the status (PM_STATUS_READY == "ready")."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


def _postgres_ready(server: PostgresServer, pid: int) -> bool:
    # Like `pg_ctl -w`: our postmaster must report "ready" in postmaster.pid before we
    # connect, so we never talk to (or hang on) someone else's listener on that port.
    if not _postmaster_ready(server.data_dir, pid):
        return False
    kwargs = server.superuser_database.connect_kwargs(connect_timeout=2)
    with psycopg.connect(**kwargs) as conn:
        row = conn.execute("SELECT 1").fetchone()
    return row == (1,)


def start_postgres(
    *,
    max_connections: int = 100,
    superuser_reserved_connections: int = 3,
    tls: TlsMaterial | None = None,
    superuser: str = "postgres",
    timeout: float = STARTUP_TIMEOUT,
    extra_settings: Mapping[str, str | int] | None = None,
) -> PostgresServer:
    """initdb + start a PostgreSQL server; the caller must call :meth:`PostgresServer.stop`."""
    if superuser_reserved_connections < 0 or max_connections <= superuser_reserved_connections:
        raise ValueError(
            f"max_connections ({max_connections}) must exceed "
            f"superuser_reserved_connections ({superuser_reserved_connections})"
        )
    started = time.monotonic()
    initdb, postgres = require_binary(PG_BINDIR / "initdb"), require_binary(PG_BINDIR / "postgres")
    require_binary(PG_BINDIR / "pg_ctl")
    version = subprocess.run([postgres, "--version"], capture_output=True, text=True, check=True).stdout.strip()

    run_as: str | None = None
    uid, gid = os.getuid(), os.getgid()
    if os.geteuid() == 0:
        run_as = PG_OS_USER
        uid, gid = _ensure_os_user(run_as)

    # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700 and the postgres user could not enter it.
    base_dir = Path(tempfile.mkdtemp(prefix="it-postgres-"))
    try:
        os.chown(base_dir, uid, gid)
        data_dir = base_dir / "data"
        log_path = base_dir / "postgres.log"
        password = secrets.token_urlsafe(24)

        # TLS: postgres insists its key is 0600 and owned by the server user.
        own_tls = tls or make_tls_material(base_dir / "tls-src")
        tls_dir = base_dir / "tls"
        tls_dir.mkdir(mode=0o700)
        cert, key, ca = tls_dir / "server.crt", tls_dir / "server.key", tls_dir / "ca.crt"
        shutil.copyfile(own_tls.server_cert, cert)
        shutil.copyfile(own_tls.server_key, key)
        shutil.copyfile(own_tls.ca_cert, ca)
        key.chmod(0o600)
        pwfile = base_dir / "pwfile"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        for path in (tls_dir, cert, key, ca, pwfile):
            os.chown(path, uid, gid)

        ctx = _pg_context(run_as, base_dir)
        init = _pg_run(
            ctx,
            [
                initdb,
                "-D",
                str(data_dir),
                "-U",
                superuser,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=timeout,
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise ServerStartupError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")

        (data_dir / "pg_hba.conf").write_text(
            "# generated by tests/integration/servers.py\n"
            "local     all all               scram-sha-256\n"
            "hostssl   all all 127.0.0.1/32  scram-sha-256\n"
            "hostnossl all all 0.0.0.0/0     reject\n"
            "hostnossl all all ::/0          reject\n"
        )
        settings: dict[str, str | int] = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(base_dir),
            "max_connections": max_connections,
            "superuser_reserved_connections": superuser_reserved_connections,
            "password_encryption": "scram-sha-256",
            "ssl": "on",
            "ssl_cert_file": str(cert),
            "ssl_key_file": str(key),
            "ssl_ca_file": str(ca),
            "ssl_min_protocol_version": "TLSv1.2",
            # throwaway data: trade durability for speed
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "logging_collector": "off",
            "log_min_messages": "info",
            **(extra_settings or {}),
        }
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# --- integration test overrides ---\n")
            for name, value in settings.items():
                rendered = value if isinstance(value, int) else "'" + value.replace("'", "''") + "'"
                conf.write(f"{name} = {rendered}\n")
        (data_dir / "postgresql.conf").chmod(0o600)
        os.chown(data_dir / "postgresql.conf", uid, gid)
        os.chown(data_dir / "pg_hba.conf", uid, gid)
    except BaseException:
        shutil.rmtree(base_dir, ignore_errors=True)
        raise

    def launch(port: int) -> tuple[subprocess.Popen[bytes], PostgresServer, Callable[[], bool]]:
        proc = spawn_logged(
            [postgres, "-D", str(data_dir), "-p", str(port)], log_path, death_signal=signal.SIGQUIT,
            cwd=ctx.cwd, env=ctx.env, user=ctx.user, group=ctx.group, extra_groups=ctx.extra_groups,
        )
        server = PostgresServer(
            host=HOST,
            port=port,
            superuser=superuser,
            superuser_password=password,
            max_connections=max_connections,
            superuser_reserved_connections=superuser_reserved_connections,
            ca_cert=ca,
            base_dir=base_dir,
            data_dir=data_dir,
            log_path=log_path,
            version=version,
            startup_seconds=0.0,
            _proc=proc,
            _run_as=run_as,
        )

        return proc, server, functools.partial(_postgres_ready, server, proc.pid)

    server = _launch_with_port_retries(launch, what="postgres", log_path=log_path, base_dir=base_dir,
                                       started=started, timeout=timeout)
    server.startup_seconds = time.monotonic() - started
    return server


class PostgresFactory:
    """``postgres_server(max_connections=..., superuser_reserved_connections=...)``.

    Instances are cached per configuration for the lifetime of the factory (one pytest
    session), so asking twice for the same settings does not start a second server.
    """

    def __init__(
        self,
        tls: TlsMaterial | None = None,
        on_start: Callable[[PostgresServer], None] | None = None,
    ) -> None:
        self._tls = tls
        self._on_start = on_start
        self._servers: dict[tuple[int, int], PostgresServer] = {}

    def __call__(self, max_connections: int = 100, *, superuser_reserved_connections: int = 3) -> PostgresServer:
        key = (max_connections, superuser_reserved_connections)
        if key not in self._servers:
            self._servers[key] = start_postgres(
                max_connections=max_connections,
                superuser_reserved_connections=superuser_reserved_connections,
                tls=self._tls,
            )
            if self._on_start is not None:
                self._on_start(self._servers[key])
        return self._servers[key]

    @property
    def servers(self) -> list[PostgresServer]:
        return list(self._servers.values())

    def close(self) -> None:
        errors: list[BaseException] = []
        for server in self._servers.values():
            try:
                server.stop()
            except Exception as exc:
                errors.append(exc)
        self._servers.clear()
        if errors:
            raise errors[0]


# --------------------------------------------------------------------------------------
# Redis (single node, optionally TLS) and Redis Cluster
# --------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A running redis-server with ``requirepass``; TLS-only when ``tls`` is True."""

    host: str
    port: int
    password: str
    tls: bool
    ca_cert: Path | None
    base_dir: Path
    log_path: Path
    version: str
    startup_seconds: float
    cluster_bus_port: int | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def client_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``redis.Redis(**kwargs)``."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "password": self.password,
            "socket_timeout": 5,
            "socket_connect_timeout": 5,
        }
        if self.tls:
            kwargs.update(ssl=True, ssl_ca_certs=str(self.ca_cert), ssl_cert_reqs="required")
        kwargs.update(extra)
        return kwargs

    def client(self, **extra: Any) -> redis.Redis:
        return redis.Redis(**self.client_kwargs(**extra))

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, *, remove_dir: bool = True) -> None:
        try:
            if self._proc is not None:
                stop_process(self._proc)
        finally:
            if remove_dir:
                shutil.rmtree(self.base_dir, ignore_errors=True)

    def halt(self) -> None:
        """An outage: stop redis-server (SIGTERM; ``save ""`` and no AOF, so its keys are gone when it comes back,
        as on a node that restarts without persistence) and keep its directory and config for :meth:`resume`."""
        if self._proc is not None:
            stop_process(self._proc)

    def resume(self, *, timeout: float = STARTUP_TIMEOUT) -> None:
        """Start the halted server again with the same config (same port); wait until it answers."""
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError(f"redis :{self.port} is running; halt() it first")
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc = spawn_logged([require_binary("redis-server"), str(self.base_dir / "redis.conf")], self.log_path,
                                  death_signal=signal.SIGTERM, cwd=self.base_dir)
        wait_until(functools.partial(_redis_ready, self, offset), what=f"redis resumed on {HOST}:{self.port}",
                   proc=self._proc, log_path=self.log_path, timeout=timeout, interval=0.1)


def no_retry() -> Retry:
    """``retry=no_retry()`` for redis-py clients that must fail fast (readiness polls, negative tests)."""
    return Retry(NoBackoff(), 0)


def redis_version() -> str:
    server = require_binary("redis-server")
    out = subprocess.run([server, "--version"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def redis_supports_tls() -> bool:
    """True when redis-server was built with TLS (``BUILD_TLS=yes``; Debian 12's 7.0 is).

    A build without TLS rejects the ``tls-port`` directive while parsing the config.
    """
    server = require_binary("redis-server")
    result = subprocess.run(
        [server, "--port", "0", "--tls-port", "0"], capture_output=True, text=True, timeout=10, check=False
    )
    text = (result.stdout + result.stderr).lower()
    return "bad directive" not in text and "not supported" not in text


def _redis_config_lines(
    *, port: int, password: str, directory: Path, tls: TlsMaterial | None, cluster_bus_port: int | None
) -> list[str]:
    lines = [
        f"bind {HOST}",
        "protected-mode yes",
        f"dir {_quote_redis(directory)}",
        f"requirepass {_quote_redis(password)}",
        'save ""',
        "appendonly no",
        "daemonize no",
        'logfile ""',
        "loglevel notice",
    ]
    if tls is None:
        lines.append(f"port {port}")
    else:
        lines += [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {_quote_redis(tls.server_cert)}",
            f"tls-key-file {_quote_redis(tls.server_key)}",
            f"tls-ca-cert-file {_quote_redis(tls.ca_cert)}",
            "tls-auth-clients no",
        ]
    if cluster_bus_port is not None:
        lines += [
            "cluster-enabled yes",
            f"cluster-config-file {_quote_redis(directory / 'nodes.conf')}",
            f"cluster-port {cluster_bus_port}",
            "cluster-node-timeout 5000",
            f"masterauth {_quote_redis(password)}",
        ]
        if tls is not None:
            lines += ["tls-cluster yes", "tls-replication yes"]
    return lines


def _redis_ready(server: RedisServer, offset: int) -> bool:
    # Only ping once *this* process logged readiness (after ``offset`` in its log), so we never talk to (or hang
    # on) someone else's listener that grabbed the port first.
    with server.log_path.open("rb") as log:
        log.seek(offset)
        if b"Ready to accept connections" not in log.read():
            return False
    # redis-py >= 6 retries ConnectionError 10x with backoff by default: poll without that
    client = server.client(socket_timeout=2, socket_connect_timeout=2, retry=no_retry())
    try:
        return bool(client.ping())
    finally:
        client.close()


def start_redis(
    *,
    password: str | None = None,
    tls: TlsMaterial | None = None,
    cluster: bool = False,
    timeout: float = STARTUP_TIMEOUT,
    name: str = "redis",
) -> RedisServer:
    """Start one redis-server; the caller must call :meth:`RedisServer.stop`."""
    started = time.monotonic()
    server_bin = require_binary("redis-server")
    version = redis_version()
    password = password if password is not None else secrets.token_urlsafe(24)
    base_dir = Path(tempfile.mkdtemp(prefix=f"it-{name}-"))
    log_path = base_dir / "redis.log"
    conf_path = base_dir / "redis.conf"

    def launch(port: int) -> tuple[subprocess.Popen[bytes], RedisServer, Callable[[], bool]]:
        bus_port = free_port() if cluster else None
        conf_path.write_text(
            "\n".join(
                _redis_config_lines(
                    port=port, password=password, directory=base_dir, tls=tls, cluster_bus_port=bus_port
                )
            )
            + "\n"
        )
        conf_path.chmod(0o600)  # holds the password
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        proc = spawn_logged([server_bin, str(conf_path)], log_path, death_signal=signal.SIGTERM, cwd=base_dir)
        server = RedisServer(
            host=HOST,
            port=port,
            password=password,
            tls=tls is not None,
            ca_cert=tls.ca_cert if tls else None,
            base_dir=base_dir,
            log_path=log_path,
            version=version,
            startup_seconds=0.0,
            cluster_bus_port=bus_port,
            _proc=proc,
        )

        return proc, server, functools.partial(_redis_ready, server, log_offset)

    server = _launch_with_port_retries(launch, what=name, log_path=log_path, base_dir=base_dir, started=started,
                                       timeout=timeout)
    server.startup_seconds = time.monotonic() - started
    return server


@dataclass
class RedisClusterServer:
    """Three redis masters forming a cluster (all 16384 slots assigned, ``cluster_state:ok``)."""

    host: str
    password: str
    tls: bool
    ca_cert: Path | None
    nodes: list[RedisServer]
    startup_seconds: float

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def port(self) -> int:
        """Port of the first node: enough as a single seed for cluster clients."""
        return self.nodes[0].port

    def client_kwargs(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``redis.cluster.RedisCluster(**kwargs)``."""
        return self.nodes[0].client_kwargs(**extra)

    def stop(self) -> None:
        errors: list[BaseException] = []
        for node in self.nodes:
            try:
                node.stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def _cluster_info(node: RedisServer) -> dict[str, str]:
    client = node.client(decode_responses=True, socket_timeout=2, retry=no_retry())
    try:
        raw: Any = client.execute_command("CLUSTER INFO")
    finally:
        client.close()
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def start_redis_cluster(
    *,
    masters: int = 3,
    password: str | None = None,
    tls: TlsMaterial | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> RedisClusterServer:
    """Start ``masters`` cluster-enabled nodes and join them with ``redis-cli --cluster create``."""
    started = time.monotonic()
    cli = require_binary("redis-cli")
    password = password if password is not None else secrets.token_urlsafe(24)
    nodes: list[RedisServer] = []
    try:
        for index in range(masters):
            nodes.append(
                start_redis(password=password, tls=tls, cluster=True, timeout=timeout, name=f"redis-cluster-{index}")
            )
        cmd = [
            cli,
            "--no-auth-warning",
            "--cluster",
            "create",
            *(f"{HOST}:{node.port}" for node in nodes),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]
        if tls is not None:
            cmd[1:1] = ["--tls", "--cacert", str(tls.ca_cert)]
        env = {**os.environ, "REDISCLI_AUTH": password}  # keeps the password out of `ps`
        remaining = max(1.0, timeout - (time.monotonic() - started))
        try:
            created = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=remaining, check=False)
        except subprocess.TimeoutExpired as exc:
            partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
            tails = "\n".join(f"--- node {n.port} ---\n{n.log_tail(10)}" for n in nodes)
            raise ServerStartupError(
                f"redis-cli --cluster create timed out after {remaining:.0f}s; output so far:\n{partial or ''}\n{tails}"
            ) from exc
        if created.returncode != 0:
            raise ServerStartupError(
                f"redis-cli --cluster create failed ({created.returncode}):\n{created.stdout}\n{created.stderr}"
            )

        deadline = time.monotonic() + max(1.0, timeout - (time.monotonic() - started))
        infos: dict[int, dict[str, str]] = {}
        while True:
            for node in nodes:
                proc = node._proc  # pyright: ignore[reportPrivateUsage]
                if proc is not None and proc.poll() is not None:
                    raise _startup_failure(f"cluster node {node.port}", "process exited", node.log_path)
                with contextlib.suppress(redis.RedisError, OSError):
                    infos[node.port] = _cluster_info(node)
            if len(infos) == masters and all(
                info.get("cluster_state") == "ok"
                and info.get("cluster_slots_assigned") == "16384"
                and info.get("cluster_known_nodes") == str(masters)
                for info in infos.values()
            ):
                break
            if time.monotonic() >= deadline:
                states = {port: info.get("cluster_state") for port, info in infos.items()}
                raise _startup_failure(
                    "redis cluster", f"cluster_state not ok after {timeout:.0f}s: {states}", nodes[0].log_path
                )
            time.sleep(0.1)
    except BaseException:
        for node in nodes:
            with contextlib.suppress(Exception):
                node.stop()
        raise
    return RedisClusterServer(
        host=HOST,
        password=password,
        tls=tls is not None,
        ca_cert=tls.ca_cert if tls else None,
        nodes=nodes,
        startup_seconds=time.monotonic() - started,
    )
