"""How late the event loop runs: every request, stream and delivery waits while one step holds it.

`watch` wakes every `INTERVAL_S` and measures how much later than asked it woke. Each lateness goes to a
histogram (`rtdb_event_loop_lag_seconds` on `/metrics`), and one over `WARN_S` is logged as a warning with the
time, so a stall seen by a client can be put down to the emulator's loop, or ruled out. Ten wake-ups a second cost
about 0.1% of a core.
"""

import asyncio
import logging
from typing import Callable

INTERVAL_S = 0.1
WARN_S = 0.25
_log = logging.getLogger(__name__)


async def watch(observe: Callable[[float], None], interval_s: float = INTERVAL_S, warn_s: float = WARN_S) -> None:
    """Until cancelled: `observe(seconds late)` after each wake-up, and a warning for any over `warn_s`."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        late = max(0.0, loop.time() - due)
        observe(late)
        if late > warn_s:
            _log.warning("the event loop ran %.0f ms late: every request waited for that long", late * 1000)
