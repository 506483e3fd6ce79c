"""The stub's HTTP server: gunicorn's threaded worker, which keeps connections alive between requests.

Werkzeug's development server answers every request with "Connection: close", so each call of a client
(the enrichment function calls once per ticket) paid a TCP connection and a new server thread: a quarter
of the stub's CPU per call. gunicorn serves the same app on kept-alive connections. It forks one worker,
which builds the app (its SQLite store and webhook thread must live in the process that serves) and
closes it when it exits. Where gunicorn is not available (Windows), `serve` answers None and the caller
keeps Werkzeug's server.
"""

from __future__ import annotations

import socket
from typing import Callable

from flask import Flask

# Requests in progress at once. Werkzeug gave every connection its own thread; gunicorn's threaded worker holds
# a thread per request whose body is still arriving, so a client that stalls its body holds one. Threads are
# started only as requests need them: this many keeps the stub serving others behind as many stalled
# clients as tests/hostile sends (50).
THREADS = 128
KEEP_ALIVE_S = 30  # an idle client connection is closed after this long
GRACEFUL_STOP_S = 5  # in-flight requests get this long after SIGTERM or SIGINT


def serve(listener: socket.socket, make_app: Callable[[], Flask]) -> Callable[[], None] | None:
    """A function that serves `make_app()` on the bound, listening `listener` until SIGTERM or SIGINT.

    Returns None if gunicorn cannot run here.
    """
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # gunicorn needs fcntl: not on Windows
        return None
    # gunicorn sets this on the TCP sockets it binds, but takes one passed as fd:// for a Unix socket. Without
    # it the body, written after the headers, waits for the client's delayed ACK: 40 ms a call.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    served: list[Flask] = []

    class _Application(BaseApplication):
        def load_config(self):
            for key, value in {"bind": [f"fd://{listener.fileno()}"], "workers": 1, "threads": THREADS,
                               "worker_class": "gthread", "keepalive": KEEP_ALIVE_S,
                               "graceful_timeout": GRACEFUL_STOP_S, "timeout": 0, "loglevel": "warning",
                               "worker_exit": _close}.items():
                self.cfg.set(key, value)

        def load(self):
            served.append(make_app())
            return served[-1]

    def _close(_arbiter, _worker) -> None:
        for app in served:
            app.extensions["helpdesk"].close()

    return _Application().run
