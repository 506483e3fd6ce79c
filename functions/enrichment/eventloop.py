"""One CloudEvent on functions-framework's event loop: the cheap events answered there, the rest in threads.

`enrich_ticket` is a coroutine (`functions_framework.aio.cloud_event`), so functions-framework serves it with
its ASGI server, uvicorn under gunicorn, here and in Google Cloud alike: uvicorn reads the request with llhttp
(httptools) where the threaded Flask server spends a third of an event's CPU in gunicorn's Python parser.
The loop parses the event and answers the ones `Enricher.triage` settles without a call: one of every
ticket's two events is the function's own write-back. Only the others (a database read, a prediction, the
helpdesk call, a write, all blocking) go to one of `THREADS` threads. Measured in the README ("An event
loop in front of the function's threads").
"""

import asyncio
import concurrent.futures
import contextvars
import json
import os
import threading
from typing import Callable

from starlette.exceptions import HTTPException

from enrichment.errors import MalformedEvent
from enrichment.pipeline import Enricher

MAX_THREADS = 256
_MAX_ERROR_CHARS = 300

_lock = threading.Lock()
_pools: list[concurrent.futures.ThreadPoolExecutor] = []


async def handle(cloud_event, enricher: Callable[[], Enricher], built: Callable[[], bool]) -> None:
    """Process one CloudEvent, as `Enricher.handle` does, without blocking the event loop.

    Args:
      cloud_event: the event functions-framework parsed.
      enricher: the instance's Enricher; may block the first time (it loads the model).
      built: whether `enricher()` is ready and returns at once.

    Raises:
      HTTPException: 400, for an event no retry can fix (the emulator retries a 400 too, then dead-letters it).
      TransientError: the database or helpdesk failed (functions-framework answers 500: the platform redelivers).
    """
    loop = asyncio.get_running_loop()
    instance = enricher() if built() else await loop.run_in_executor(pool(), enricher)
    try:
        event = instance.parse(dict(cloud_event.get_attributes()), cloud_event.get_data())
    except MalformedEvent as error:
        raise malformed(error) from None
    _, rest = instance.triage(event)
    if rest is not None:
        await loop.run_in_executor(pool(), contextvars.copy_context().run, rest)


def pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that run the events with work to do: `THREADS` of them (4 per CPU by default, as many as
    functions-framework gives its threaded server). Made on first use, in the serving process.

    Raises:
      ValueError: THREADS is not a whole number from 1 to MAX_THREADS.
    """
    if not _pools:
        with _lock:
            if not _pools:
                _pools.append(concurrent.futures.ThreadPoolExecutor(threads(os.environ),
                                                                    thread_name_prefix="enrich"))
    return _pools[0]


def threads(environ) -> int:
    """THREADS from `environ`, else 4 per CPU.

    Raises:
      ValueError: naming the value and the rule.
    """
    value = environ.get("THREADS", str((os.cpu_count() or 1) * 4))
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_THREADS:
        raise ValueError(f'Invalid THREADS: "{value}". It must be a whole number from 1 to {MAX_THREADS}.')
    return int(value)


def malformed(error: Exception) -> HTTPException:
    """The 400 of an event the function refuses, with `malformed_body`, as main.py's Flask error handler
    answers it for the SDK's entry points."""
    return HTTPException(400, detail=json.dumps(malformed_body(error)), headers={"Content-Type": "application/json"})


def malformed_body(error: Exception) -> dict:
    """`{"error": "Malformed CloudEvent: <the reason>"}`, the reason cut at 300 characters."""
    return {"error": f"Malformed CloudEvent: {str(error)[:_MAX_ERROR_CHARS]}"}
