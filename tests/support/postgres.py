"""A real PostgreSQL server for the test suite (and the benches): initdb in a temp folder, a loopback port.

Debian's ``postgresql`` package (``scripts/install-deps.sh``) puts ``initdb``/``pg_ctl`` in
``/usr/lib/postgresql/<major>/bin``. The server refuses to run as root, so as root every server command
runs as the ``postgres`` user (``runuser -u postgres --``) in a folder of its own (pytest's base temp is
0700 root and that user could not enter it). Clients connect over TCP on 127.0.0.1 with a password
(scram-sha-256): the role ``hybridcore`` (``LOGIN CREATEDB``, not a superuser) owns the test databases.
The server is started on first use, once per pytest process (each xdist worker has its own: nothing to
coordinate), and stopped at the end of the session; a watchdog process stops it and removes its folder
should the test process die without cleaning up.

In tests, request a fixture; make them visible with ``from tests.support.postgres import pg_server,
pg_url  # noqa: F401`` in a ``conftest.py`` (as tests/unit/state/conftest.py does), or with
``pytest_plugins = ["tests.support.postgres"]`` in the top-level conftest::

    pg_server   session: the PgServer (``.url(db)``, ``.new_database()``, ``.admin_url()``, ``.port``)
    pg_url      function: a fresh, empty database on it, as a ``postgresql+psycopg://`` URL; give it to
                a wrapper process as HYBRIDCORE_STATE_URL

or call :func:`shared_server` / :meth:`PgServer.new_database` directly. :func:`pg_dump` returns the
plain-SQL dump of a database (to assert that a canary secret never reached it); :func:`execute` runs raw
SQL on one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROLE = "hybridcore"
ADMIN = "hcadmin"
_BIN_ROOT = Path("/usr/lib/postgresql")


def pg_bin(name: str) -> Path:
    """``initdb``, ``pg_ctl``, ``pg_dump``... of the newest installed major version."""
    versions = sorted((p for p in _BIN_ROOT.glob("*/bin") if (p / name).is_file()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if versions:
        return versions[-1] / name
    found = shutil.which(name)
    if found:
        return Path(found)
    raise RuntimeError(f"PostgreSQL's {name} not found: run scripts/install-deps.sh (Debian: apt-get install "
                       "postgresql)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PgServer:
    """One running server; :meth:`stop` ends it and removes its folder."""

    folder: Path
    port: int
    password: str
    admin_password: str
    _watchdog: subprocess.Popen[bytes] | None = None
    _databases: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def url(self, database: str = "postgres", *, password: str | None = None, user: str = ROLE) -> str:
        pw = self.password if password is None else password
        return f"postgresql+psycopg://{user}:{pw}@{self.host}:{self.port}/{database}"

    def admin_url(self, database: str = "postgres") -> str:
        return self.url(database, user=ADMIN, password=self.admin_password)

    def new_database(self, prefix: str = "hc") -> str:
        """A fresh empty database owned by the test role; its SQLAlchemy URL."""
        import psycopg

        with self._lock:
            self._databases += 1
            name = f"{prefix}_{os.getpid()}_{self._databases}_{secrets.token_hex(3)}"
        with psycopg.connect(libpq_url(self.url()), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`new_database`, ending any session still on it."""
        import psycopg

        name = urlsplit(libpq_url(url)).path.lstrip("/")
        with psycopg.connect(libpq_url(self.url()), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and remove its folder (the watchdog does it, so there is one way it ends)."""
        if self._watchdog is not None and self._watchdog.poll() is None:
            assert self._watchdog.stdin is not None
            self._watchdog.stdin.close()
            self._watchdog.wait(timeout=120)
        elif self.folder.exists():
            _stop(self.folder)


# Run in its own session by start_server: when its stdin reaches EOF (the test process closed it, or
# died in any way, SIGKILL included) it stops the server and removes its folder.
_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.read()
folder, argv = sys.argv[1], sys.argv[2:]
subprocess.run(argv, capture_output=True, check=False)
shutil.rmtree(folder, ignore_errors=True)
"""


def _stop_argv(folder: Path) -> list[str]:
    return _as_server_user([str(pg_bin("pg_ctl")), "stop", "-D", str(folder / "data"), "-m", "immediate", "-w"])


def _stop(folder: Path) -> None:
    subprocess.run(_stop_argv(folder), capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as a libpq URI."""
    scheme, _, rest = url.partition("://")
    return "postgresql://" + rest if scheme.startswith("postgresql") else url


def start_server(*, durable: bool = False) -> PgServer:
    """initdb + start on a free loopback port; ``durable=False`` turns fsync off (tests), True keeps
    PostgreSQL's defaults (benchmarks comparing with SQLite, which syncs)."""
    folder = Path(tempfile.mkdtemp(prefix="hc-pg-"))
    try:
        return _start(folder, durable)
    except BaseException:
        _stop(folder)  # a server that started before the failure goes too
        raise


def _start(folder: Path, durable: bool) -> PgServer:
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")  # the server user owns its folder; nobody else enters
    admin_pw, role_pw = secrets.token_hex(12), secrets.token_hex(12)
    pwfile = folder / "pw"
    pwfile.write_text(admin_pw + "\n")
    pwfile.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    data = folder / "data"
    subprocess.run(_as_server_user([
        str(pg_bin("initdb")), "-D", str(data), "-U", ADMIN, f"--pwfile={pwfile}", "--auth-local=peer",
        "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
        check=True, capture_output=True, text=True)
    pwfile.unlink()
    options = ["-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={folder}", "-c max_connections=200",
               "-c shared_buffers=32MB"]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    last = ""
    for _ in range(5):  # a free port can be taken by someone else before the server binds it
        port = _free_port()
        proc = subprocess.run(_as_server_user([
            str(pg_bin("pg_ctl")), "start", "-D", str(data), "-w", "-t", "60", "-l", str(folder / "server.log"),
            "-o", " ".join([f"-c port={port}", *options])]), capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            break
        last = proc.stdout + proc.stderr + _tail(folder / "server.log")
    else:
        raise RuntimeError(f"PostgreSQL did not start: {last}")
    server = PgServer(folder=folder, port=port, password=role_pw, admin_password=admin_pw)
    # The pipe is close-on-exec, so only this process holds its write end: no child keeps it open.
    server._watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(folder), *_stop_argv(folder)],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
    import psycopg

    with psycopg.connect(libpq_url(server.admin_url()), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{role_pw}'")
    return server


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def pg_dump(url: str) -> str:
    """The plain-SQL dump (schema and rows) of the database at ``url`` (a SQLAlchemy or libpq URL)."""
    parts = urlsplit(libpq_url(url))
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    dbname = parts.path.lstrip("/")
    proc = subprocess.run([str(pg_bin("pg_dump")), "--no-owner", "-h", parts.hostname or "127.0.0.1",
                           "-p", str(parts.port or 5432), "-U", parts.username or "", "-d", dbname],
                          capture_output=True, text=True, env=env, check=True)
    return proc.stdout


# --- one server per pytest process ------------------------------------------------------------------

_shared: PgServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> PgServer:
    """This process's server, started on first use and stopped when the process exits."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = start_server()
            atexit.register(_stop_shared)
        return _shared


def _stop_shared() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.stop()
            _shared = None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = shared_server()
    yield server
    with contextlib.suppress(Exception):
        _stop_shared()  # also at exit; here so a session ends with its server stopped


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    url = pg_server.new_database()
    yield url
    pg_server.drop_database(url)  # ~8 MB each: a long session would fill the disk otherwise


def execute(url: str, *statements: str) -> None:
    """Run SQL statements on the database at ``url`` in one transaction (psycopg, no SQLAlchemy)."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        for sql in statements:
            conn.execute(sql)
