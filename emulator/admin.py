"""Admin-only endpoints under `/.settings/`: function triggers and dead-lettered events.

`GET|PUT /.settings/functionTriggers.json` reads or replaces the triggers at runtime (the way a
functions emulator registers itself with the database emulator); `GET /.settings/deadLetters.json`
lists dead-lettered events and `POST /.settings/deadLetters/replay.json` (body `{"ids": [...]}`,
or `{}` for all) returns them to delivery.
"""

import json

from aiohttp import web

from emulator import values
from emulator.errors import BadRequest, ConfigError
from emulator.rest import CORS_HEADERS
from emulator.triggers import parse_triggers


def admin_handlers(server) -> dict:
    """The `/.settings/...` handlers of one running EmulatorServer."""

    async def triggers(request, method):
        if method == "GET":
            return _json([_describe(t) for t in server.triggers])
        if method == "PUT":
            doc = values.parse_body(await request.read())
            try:
                new = parse_triggers(doc, "the request body")
            except ConfigError as exc:
                raise BadRequest(str(exc)) from exc
            server.triggers[:] = new  # the recorder and delivery share this list
            return _json({"status": "ok", "triggers": len(new)})
        raise BadRequest(f'Invalid method: "{method}". Use GET or PUT.')

    async def dead_letters(request, method):
        if method != "GET":
            raise BadRequest(f'Invalid method: "{method}". Use GET.')
        return _json(await server.delivery.dead_letters())

    async def replay(request, method):
        if method != "POST":
            raise BadRequest(f'Invalid method: "{method}". Use POST.')
        body = await request.read()
        doc = values.parse_body(body) if body.strip() else {}
        ids = doc.get("ids") if isinstance(doc, dict) else None
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, int) for i in ids)):
            raise BadRequest(f"Invalid ids: {json.dumps(ids)}. Give a list of dead-letter ids, or omit it to replay all.")
        return _json({"replayed": await server.delivery.replay(ids)})

    return {
        "/.settings/functionTriggers.json": triggers,
        "/.settings/deadLetters.json": dead_letters,
        "/.settings/deadLetters/replay.json": replay,
    }


def _describe(trigger) -> dict:
    return {"name": trigger.name, "ref": "/".join(trigger.pattern), "event_type": trigger.event_type,
            "url": trigger.url, "instance": trigger.instance, "max_attempts": trigger.max_attempts,
            "min_backoff_s": trigger.min_backoff_s, "max_backoff_s": trigger.max_backoff_s,
            "timeout_s": trigger.timeout_s}


def _json(value) -> web.Response:
    return web.Response(text=json.dumps(value), content_type="application/json", charset="utf-8", headers=CORS_HEADERS)
