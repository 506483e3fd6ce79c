"""Command line: ``python -m helpdesk [--host H] [--port P] [--db PATH]`` runs the stub server.

Each flag falls back to HELPDESK_HOST / HELPDESK_PORT / HELPDESK_DB; prints one ready line with the real URL.
Served by gunicorn's threaded worker with kept-alive connections (see serving.py), else by Werkzeug's.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
import threading
from typing import Sequence

from flask import Flask
from werkzeug.serving import make_server

from helpdesk import serving
from helpdesk.app import create_app
from helpdesk.errors import ConfigError
from helpdesk.settings import load_settings

READY_LINE = "Helpdesk stub listening on http://{host}:{port}"
EXIT_USAGE = 2
_BACKLOG = 128


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the server until SIGINT or SIGTERM.

    Args:
        argv: command-line arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The process exit code: 0 after a clean stop, 2 for a bad setting or a port in use.
    """
    parser = argparse.ArgumentParser(prog="python -m helpdesk", description="Zendesk-compatible helpdesk stub.")
    parser.add_argument("--host", help="interface to bind (env HELPDESK_HOST, default 127.0.0.1)")
    parser.add_argument("--port", help="TCP port, 0 for a free one (env HELPDESK_PORT, default 5005)")
    parser.add_argument("--db", help="SQLite file (env HELPDESK_DB, default .data/helpdesk.sqlite3)")
    args = parser.parse_args(argv)
    overrides = {"HELPDESK_HOST": args.host, "HELPDESK_PORT": args.port, "HELPDESK_DB": args.db}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        print(f"helpdesk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        listener = socket.create_server((settings.host, settings.port), family=_family(settings.host),
                                        backlog=_BACKLOG)
    except OSError as exc:
        reason = "it is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        print(f'helpdesk: Invalid port: "{settings.port}" on {settings.host}: {reason}. '
              "Stop the other program or pass --port 0 for a free port.", file=sys.stderr)
        return EXIT_USAGE
    ready = READY_LINE.format(host=settings.host, port=listener.getsockname()[1])
    run = serving.serve(listener, lambda: create_app(overrides))
    if run is not None:
        print(ready, flush=True)  # connections wait in the listener's backlog until the worker accepts
        run()  # (exits the process itself)
        return 0
    try:
        app = create_app(overrides)
    except ConfigError as exc:
        listener.close()
        print(f"helpdesk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _serve_with_werkzeug(app, settings.host, listener, ready)


def _serve_with_werkzeug(app: Flask, host: str, listener: socket.socket, ready: str) -> int:
    """Werkzeug's threaded server until SIGINT or SIGTERM (one connection per request), where gunicorn cannot run."""
    stub = app.extensions["helpdesk"]
    try:
        server = make_server(host, listener.getsockname()[1], app, threaded=True, fd=listener.fileno())
    finally:
        listener.close()  # make_server holds its own duplicate of the descriptor.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    serving_thread = threading.Thread(target=server.serve_forever, name="helpdesk-http", daemon=True)
    serving_thread.start()
    print(ready, flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    stub.close()
    return 0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


if __name__ == "__main__":
    sys.exit(main())
