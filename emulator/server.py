"""The emulator process: the database, hosting and Auth ports, startup, import/export, shutdown.

`EmulatorServer(settings)` opens the journal, replays it, applies `--import` and the rules file,
binds the ports (port 0 picks a free one) and serves until `stop()`, which closes streams,
flushes the journal and writes `--export-on-exit`.
"""

import asyncio
import json
import logging
from fnmatch import fnmatch
from pathlib import Path

from aiohttp import web

from emulator import looplag, values
from emulator.admin import admin_handlers
from emulator.coverage import inspect_handlers
from emulator.delivery import Delivery
from emulator.errors import BadRequest, ConfigError
from emulator.identity import Identity
from emulator.metrics import Metrics
from emulator.realtime import RealtimeApi
from emulator.rest import RestApi, check_namespace
from emulator.settings import Settings
from emulator.storage import Journal, MemoryJournal
from emulator.store import ADMIN, Database
from emulator.stream import Registry
from emulator.triggers import EventRecorder

EXPORT_SUBDIR = "database_export"
EXPORT_METADATA = "firebase-export-metadata.json"
RULES_POLL_S = 0.5
_log = logging.getLogger(__name__)


class EmulatorServer:
    """One running emulator.

    Args:
      settings: resolved settings (see `settings.load_settings`).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db: Database | None = None
        self.registry: Registry | None = None
        self.api: RestApi | None = None
        self.realtime: RealtimeApi | None = None
        self.port: int | None = None
        self.hosting_port: int | None = None
        self.auth_port: int | None = None  # the Auth emulator's own port, when settings name one
        self._runners: list[web.AppRunner] = []
        self.extensions: list = []  # objects with async start(server) / stop()
        self.triggers: list = []
        self.delivery: Delivery | None = None
        self._watcher: asyncio.Task | None = None
        self._lag: asyncio.Task | None = None  # looplag.watch: how late the event loop runs
        self._started: list = []  # extensions whose start() returned, stopped in reverse
        self.metrics = Metrics()

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        """Load the data, then bind and serve.

        Raises:
          ConfigError: the rules file or import is invalid, or a port cannot be bound.
          StorageUnavailable: the data dir cannot be opened.

        On failure everything already opened (journal, delivery's HTTP session, extensions, a bound
        port) is closed again before the error propagates; nothing is exported.
        """
        try:
            await self._start()
        except BaseException:
            try:
                await self._shutdown(export=False)
            except Exception:  # never mask the start-up error
                _log.exception("cleanup after a failed start failed")
            raise

    async def _start(self) -> None:
        s = self.settings
        journal = Journal(s.data_dir) if s.data_dir is not None else MemoryJournal()
        self.db = Database(journal)
        replayed = self.db.load()
        if replayed:
            _log.info("replayed %d journal entries from %s", replayed, s.data_dir)
        self.registry = Registry()
        self.api = RestApi(self.db, self.registry, s.namespace, keep_alive_s=s.keep_alive_s)
        self.registry.select_query = lambda l: self.api.indexes.select(l.ns, l.path, l.query)
        self.registry.node_at = self.db.get
        self.db.commit_hooks.append(self.registry.on_commit)
        self._lag = asyncio.get_running_loop().create_task(looplag.watch(self.metrics.loop_lag.observe))
        self.triggers = list(s.triggers)
        self.delivery = Delivery(self.triggers)
        await self.delivery.start(self)
        self.db.write_hooks.append(EventRecorder(self.triggers, self.delivery.new_id))
        self.api.settings_handlers.update(admin_handlers(self))
        self.api.inspect_handlers.update(inspect_handlers(self.api))  # rules coverage (emulator/coverage.py)
        for ext in self.extensions:
            await ext.start(self)
            self._started.append(ext)
        if s.import_dir is not None:
            await self._import(s.import_dir)
        if s.rules_file is not None:
            try:
                await self.api.set_rules(s.namespace, s.rules_file.read_text(encoding="utf-8"))
            except BadRequest as exc:
                raise ConfigError(f'Invalid rules file: "{s.rules_file}". {exc}') from exc
            self._watcher = asyncio.get_running_loop().create_task(self._watch_rules(s.rules_file))
        self.metrics.attach(self)
        app = web.Application(client_max_size=1024**3, middlewares=[self.metrics.middleware])
        app.router.add_get("/metrics", self.metrics.handle)
        identity = Identity(s.project)  # the Auth emulator (emulator/identity.py), also on its own port below
        app.router.add_routes(identity.routes())
        self.realtime = RealtimeApi(self.db, self.registry, self.api.access, s.namespace, check_namespace,
                                    self.api.indexes)
        app.router.add_get("/.ws", self.realtime.handle)  # the realtime protocol (emulator/realtime.py)
        # Every other path is the REST API's, newlines (%0A) included: "." would not match them, and aiohttp
        # would answer its own plain-text 404 instead of the API's JSON 400 "Invalid path".
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.api.handle)
        self.port = await self._serve(app, s.host, s.port, "database")
        if s.hosting_public is not None and s.hosting_port is not None:
            self.hosting_port = await self._serve(self._hosting_app(), s.host, s.hosting_port, "hosting")
        if s.auth_port is not None:
            self.auth_port = await self._serve(identity.app(), s.auth_host, s.auth_port, "auth")

    async def _serve(self, app: web.Application, host: str, port: int, what: str) -> int:
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"Cannot listen for the {what} emulator on {host}:{port}: {exc.strerror or exc}. "
                f"Is another emulator running? Stop it, or choose another port (0 picks a free one)."
            ) from exc
        self._runners.append(runner)
        return site._server.sockets[0].getsockname()[1]

    async def _watch_rules(self, path: Path) -> None:
        """Reload the rules file when it changes on disk; an invalid edit is logged and ignored."""
        last = path.stat().st_mtime_ns
        while True:
            await asyncio.sleep(RULES_POLL_S)
            try:
                mtime = path.stat().st_mtime_ns
                if mtime == last:
                    continue
                last = mtime
                await self.api.set_rules(self.settings.namespace, path.read_text(encoding="utf-8"))
                print(f"Reloaded the rules from {path}", flush=True)
            except (OSError, BadRequest) as exc:
                print(f"Kept the previous rules: {path} is invalid. {exc}", flush=True)

    def _hosting_app(self) -> web.Application:
        public = self.settings.hosting_public

        async def init_json(_request):
            # Firebase Hosting serves the project's web config here; pages read the database URL from it.
            return web.json_response({
                "projectId": self.settings.project,
                "databaseURL": f"{self.url}?ns={self.settings.namespace}",
                "apiKey": "demo-api-key",
                "authDomain": f"{self.settings.project}.firebaseapp.com",
                "emulator": True,
                "authEmulatorUrl": self.url,  # pages sign in here instead of identitytoolkit.googleapis.com
            })

        async def index(request):
            rel = request.match_info.get("tail", "")
            if any(fnmatch(rel, glob) or fnmatch("/" + rel, glob) for glob in self.settings.hosting_ignore):
                raise web.HTTPNotFound(text=f"Not found: /{rel}")
            target = (public / rel).resolve()
            if public.resolve() not in target.parents and target != public.resolve():
                raise web.HTTPNotFound()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                html = target.with_suffix(".html")
                if html.is_file():
                    target = html
                else:
                    raise web.HTTPNotFound(text=f"Not found: /{rel}")
            return web.FileResponse(target, headers={"Cache-Control": "no-cache"})

        app = web.Application()
        app.router.add_get("/__/firebase/init.json", init_json)
        app.router.add_get("/{tail:.*}", index)
        return app

    async def _import(self, directory: Path) -> None:
        sub = directory / EXPORT_SUBDIR
        folder = sub if sub.is_dir() else directory
        for file in sorted(folder.glob("*.json")):
            if file.name == EXPORT_METADATA:
                continue
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
                value = values.normalize(data, 0)
            except ValueError as exc:
                raise ConfigError(f'Invalid import file: "{file}". {exc}') from exc
            await self.db.write(file.stem, "put", (), [((), value)], ADMIN)
            _log.info("imported namespace %s from %s", file.stem, file)

    def export(self, directory: Path) -> None:
        """Write every namespace as `<dir>/database_export/<ns>.json` (Firebase CLI layout)."""
        folder = directory / EXPORT_SUBDIR
        folder.mkdir(parents=True, exist_ok=True)
        for ns, root in self.db.roots.items():
            tmp = folder / f".{ns}.json.tmp"
            tmp.write_text(values.dumps(values.render(root, export=True)), encoding="utf-8")
            tmp.replace(folder / f"{ns}.json")
        meta = {"version": "emulator", "database": {"version": "emulator", "path": EXPORT_SUBDIR}}
        (directory / EXPORT_METADATA).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    async def stop(self) -> None:
        """Close streams, stop serving, flush the journal, then export if asked."""
        await self._shutdown(export=True)

    async def _shutdown(self, export: bool) -> None:
        """Release whatever `start` got to (it may have failed part way)."""
        if self.realtime is not None:
            await self.realtime.close_all()
        if self.registry is not None:
            self.registry.close_all()
        if self._watcher is not None:
            self._watcher.cancel()
        if self._lag is not None:
            self._lag.cancel()
        while self._started:
            await self._started.pop().stop()
        if self.delivery is not None:
            await self.delivery.stop()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.db is not None:
            await self.db.settle()
            if export and self.settings.export_on_exit is not None:
                self.export(self.settings.export_on_exit)
            await self.db.close()
