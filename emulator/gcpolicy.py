"""The cyclic garbage collector's policy in the emulator's process, which holds one large tree without cycles.

A full collection traverses every container the collector tracks, and the database's tree is most of them: at a
year of tickets about 270,000 dicts, which a full collection took 300-470 ms to traverse, on the event loop's
thread, every few thousand new tickets (`python -m bench.gc_pauses`). The tree never forms a cycle (values nest;
a replaced value is freed by reference counting), so traversing it finds nothing. After each full collection the
survivors are frozen (`gc.freeze`), so the next traverses only what was created since. What is frozen while still
in use and later forms unreachable cycles (a request's objects, say) would never be collected; so every
`FULL_EVERY`-th full collection is made over everything again (`gc.unfreeze` before it).
"""

import gc

FULL_EVERY = 10
_state = {"collections": 0}


def _after_collection(phase: str, info: dict) -> None:
    if phase != "stop" or info.get("generation") != 2:
        return
    _state["collections"] += 1
    if _state["collections"] % FULL_EVERY == FULL_EVERY - 1:
        gc.unfreeze()  # the next full collection sees everything
    else:
        gc.freeze()


def install() -> None:
    """Freeze what is alive now (the loaded tree) and freeze the survivors of each full collection from now on.
    For the emulator's own process (`python -m emulator`): tests that run it in-process leave the collector as it
    is."""
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
