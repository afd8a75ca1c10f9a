"""A loopback-only static HTTP server that counts requests, for offline Packer downloads.

Tests use it to prove what Packer's download cache does: every GET/HEAD is counted per path,
so "the second build made zero requests" is an assertion, not a guess.

As a script (``make demo``)::

    python -m tests.support.http_server DIR [--port PORT]

serves DIR on 127.0.0.1, prints the URL and runs until interrupted.
"""

from __future__ import annotations

import argparse
import collections
import functools
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LOOPBACK = "127.0.0.1"


class RequestLog:
    """Thread-safe per-path request counters (one per HTTP method)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._counts[(method, path)] += 1

    def count(self, path: str, method: str = "GET") -> int:
        """Requests for ``path`` (leading ``/`` optional, query ignored) with ``method``."""
        key = (method, _normalise(path))
        with self._lock:
            return self._counts[key]

    def total(self, method: str | None = "GET") -> int:
        """All requests with ``method`` (``None``: any method)."""
        with self._lock:
            return sum(n for (m, _), n in self._counts.items() if method is None or m == method)

    def snapshot(self) -> dict[str, int]:
        """``{"GET /path": n, ...}``, for assertion messages."""
        with self._lock:
            return {f"{m} {p}": n for (m, p), n in sorted(self._counts.items())}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def _normalise(path: str) -> str:
    path = unquote(urlsplit(path).path)
    return path if path.startswith("/") else "/" + path


class _Handler(SimpleHTTPRequestHandler):
    # Set per server through functools.partial (see serve_directory).
    request_log: RequestLog

    def __init__(self, *args: Any, request_log: RequestLog, **kwargs: Any) -> None:
        self.request_log = request_log
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self.request_log.record("GET", _normalise(self.path))
        super().do_GET()

    def do_HEAD(self) -> None:
        self.request_log.record("HEAD", _normalise(self.path))
        super().do_HEAD()

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: the per-request stderr lines would drown test output; counts are in request_log.
        pass


class Server:
    """A running server: ``url`` ends with ``/``; ``requests`` counts what was asked for."""

    def __init__(self, httpd: ThreadingHTTPServer, root: Path, requests: RequestLog) -> None:
        self._httpd = httpd
        self.root = root
        self.requests = requests
        host, port = httpd.server_address[:2]
        self.port = int(port)
        self.url = f"http://{host!s}:{self.port}/"

    def url_for(self, relpath: str) -> str:
        return self.url + relpath.lstrip("/")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not block shutdown

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients (Packer's downloader) may hang up mid-transfer; that is not a test failure.
        pass


@contextmanager
def serve_directory(root: Path, port: int = 0) -> Iterator[Server]:
    """Serve ``root`` on 127.0.0.1 (an ephemeral port unless ``port``) in a background thread."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(root)
    log = RequestLog()
    handler = functools.partial(_Handler, directory=str(root), request_log=log)
    httpd = _QuietServer((LOOPBACK, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, name=f"http:{root.name}", daemon=True)
    thread.start()
    try:
        yield Server(httpd, root, log)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a directory on 127.0.0.1, counting requests.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    # `make demo` stops the server with SIGTERM; treat it like Ctrl-C so shutdown stays clean.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with serve_directory(args.root, args.port) as server:
        print(server.url, flush=True)
        with suppress(KeyboardInterrupt):  # Ctrl-C is the normal way to stop the demo server
            threading.Event().wait()
        print(f"requests: {server.requests.snapshot()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
