"""The cyclic garbage collector's policy in the emulator's process, which holds one large tree without cycles.

A full collection traverses every container the collector tracks, and the database's tree is most of them: at a
year of tickets about 270,000 dicts, which a full collection took 300-470 ms to traverse, on the event loop's
thread, every few thousand new tickets (`python -m bench.gc_pauses`). The tree never forms a cycle (values nest;
a replaced value is freed by reference counting), so traversing it finds nothing. After each full collection the
survivors are frozen (`gc.freeze`), so the next traverses only what was created since.

What is frozen while still in use and later forms unreachable cycles (a request's objects, say) is never collected
by those: at 200 tickets a second about 1,900 such objects in five minutes. So after every `FULL_EVERY`-th full
collection one over everything is due, and it waits for a quiet moment: `collect_when_idle` makes it once the
database has seen no write for `IDLE_S`, or after `MAX_DEFER_S` under a load that never pauses. Made at once, it
held every request for 0.5-0.8 s each time at a year of tickets (every five minutes at 200 tickets a second).
"""

import asyncio
import gc
import time
from typing import Callable

FULL_EVERY = 10
IDLE_S = 2.0  # no write for this long: a collection over everything now delays no one
MAX_DEFER_S = 3600.0  # under a load that never pauses, one over everything an hour
CHECK_S = 1.0
_state = {"collections": 0, "due_since": None}


def _after_collection(phase: str, info: dict) -> None:
    if phase != "stop" or info.get("generation") != 2:
        return
    _state["collections"] += 1
    if _state["collections"] % FULL_EVERY == 0 and _state["due_since"] is None:
        _state["due_since"] = time.monotonic()
    gc.freeze()


def due() -> bool:
    """Whether a full collection over everything is due (made by `collect_everything`)."""
    return _state["due_since"] is not None


def collect_everything() -> None:
    """A full collection over everything, frozen or not (the survivors are frozen again)."""
    gc.unfreeze()
    gc.collect()  # `_after_collection` freezes the survivors (and counts it)
    _state["due_since"] = None


async def collect_when_idle(idle_for: Callable[[], float], check_s: float = CHECK_S, idle_s: float = IDLE_S,
                            max_defer_s: float = MAX_DEFER_S) -> None:
    """Run forever (cancel to stop): every `check_s`, make the collection over everything that is due once
    `idle_for()` (seconds since the database's last write) reaches `idle_s`, or once it has waited `max_defer_s`."""
    while True:
        await asyncio.sleep(check_s)
        since = _state["due_since"]
        if since is not None and (idle_for() >= idle_s or time.monotonic() - since >= max_defer_s):
            collect_everything()


def install() -> None:
    """Freeze what is alive now (the loaded tree) and freeze the survivors of each full collection from now on.
    For the emulator's own process (`python -m emulator`, which also runs `collect_when_idle`): tests that run it
    in-process leave the collector as it is."""
    if _after_collection in gc.callbacks:
        return
    gc.collect()
    gc.freeze()
    gc.callbacks.append(_after_collection)


def uninstall() -> None:
    """Undo `install`: everything frozen goes back to the collector."""
    if _after_collection in gc.callbacks:
        gc.callbacks.remove(_after_collection)
    gc.unfreeze()
    _state["collections"] = 0
    _state["due_since"] = None
