"""CloudEvent functions that do nothing: what functions-framework alone costs per event (`bench/framework.py`).

`empty` is a plain function, which functions-framework serves with Flask under gunicorn's threaded worker;
`empty_async` a coroutine, served by its ASGI server (uvicorn), as `enrich_ticket` is.
Served by `python -m bench.framework` only; never deployed.
"""

import functions_framework
import functions_framework.aio


@functions_framework.cloud_event
def empty(cloud_event):
    """Accept the event and do nothing with it."""
    return None


@functions_framework.aio.cloud_event
async def empty_async(cloud_event):
    """Accept the event and do nothing with it, on the event loop."""
    return None
