"""`python -m emulator`: start the Realtime Database emulator (and hosting, and Auth) from firebase.json.

`python -m emulator dead-letters list|replay` inspects and replays dead-lettered events.

Every flag falls back to an environment variable, then to firebase.json, then to a default
(see `emulator.settings`). Exit status: 0 after a clean stop, 2 for invalid configuration.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

from emulator import gcpolicy
from emulator.errors import ConfigError, StorageUnavailable
from emulator.server import EmulatorServer
from emulator.settings import load_settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m emulator", description="Firebase Realtime Database emulator.")
    p.add_argument("--config", help="firebase.json to read (env RTDB_EMULATOR_CONFIG; default ./firebase.json)")
    p.add_argument("--host", help="interface to bind (env RTDB_EMULATOR_HOST; firebase.json emulators.database.host)")
    p.add_argument("--port", help="database port, 0 for a free one (env RTDB_EMULATOR_PORT; emulators.database.port)")
    p.add_argument("--hosting-port", help="hosting port (env HOSTING_EMULATOR_PORT; emulators.hosting.port)")
    p.add_argument("--auth-port", help="also serve the Auth emulator on this port, 0 for a free one "
                                       "(env AUTH_EMULATOR_PORT; emulators.auth.port, Firebase's default 9099)")
    p.add_argument("--project", help="project id (env GCLOUD_PROJECT; .firebaserc default)")
    p.add_argument("--data-dir", help="durable storage directory (env RTDB_EMULATOR_DATA_DIR; default .data/database)")
    p.add_argument("--in-memory", action="store_true", default=None,
                   help="keep data in memory only (env RTDB_EMULATOR_IN_MEMORY=1)")
    p.add_argument("--import", dest="import_dir", help="load an export directory at start (env RTDB_EMULATOR_IMPORT)")
    p.add_argument("--export-on-exit", help="write an export directory at exit (env RTDB_EMULATOR_EXPORT_ON_EXIT)")
    p.add_argument("--triggers", help="function triggers file (env RTDB_EMULATOR_TRIGGERS; default ./triggers.json)")
    p.add_argument("--keep-alive", type=float, help="seconds between keep-alive events on idle streams (default 30)")
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return p


async def serve(settings) -> None:
    server = EmulatorServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    gcpolicy.install()  # after the load: the tree is frozen out of full collections (emulator/gcpolicy.py)
    collector = loop.create_task(gcpolicy.collect_when_idle(server.db.idle_for))
    where = "in memory" if settings.data_dir is None else f"data in {settings.data_dir}"
    where += ", uvloop" if type(loop).__module__.startswith("uvloop") else ", asyncio loop"
    if server.hosting_port is not None:  # printed first: the database line means everything is up
        print(f"Hosting emulator ready at http://{settings.host}:{server.hosting_port}/", flush=True)
    if server.auth_port is not None:
        print(f"Auth emulator ready at http://{settings.auth_host}:{server.auth_port}/", flush=True)
    print(f"Database emulator ready at {server.url}/?ns={settings.namespace} ({where})", flush=True)
    try:
        await stop.wait()
    finally:
        collector.cancel()
        await server.stop()


def _loop_factory():
    """uvloop's event loop where it is installed (Linux and macOS wheels), else asyncio's own.

    aiohttp's server and client, the WebSocket fan-out and the delivery client spend much of their time in the
    event loop itself, which uvloop runs in C over libuv. `RTDB_EMULATOR_EVENT_LOOP=asyncio` chooses asyncio's.
    """
    choice = os.environ.get("RTDB_EMULATOR_EVENT_LOOP", "uvloop")
    if choice not in ("uvloop", "asyncio"):
        raise ConfigError(f'Invalid RTDB_EMULATOR_EVENT_LOOP: "{choice}". It must be "uvloop" or "asyncio".')
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dead-letters"]:
        from emulator.deadletters import main as dead_letters

        return dead_letters(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args)
        loop_factory = _loop_factory()
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(serve(settings))
    except (ConfigError, StorageUnavailable) as exc:
        print(f"emulator: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
