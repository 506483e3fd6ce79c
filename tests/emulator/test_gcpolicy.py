"""The collector's policy in the emulator's process: survivors of full collections are frozen out of the next ones,
and after every FULL_EVERY-th full collection one over everything is due, made when the database is idle (or after
a longest wait), so cycles frozen while in use are collected without holding requests under load."""

import asyncio
import gc
import weakref

from emulator import gcpolicy


class _Node:
    pass


def _a_cycle_frozen_while_in_use() -> weakref.ref:
    node = _Node()
    node.itself = node
    alive = weakref.ref(node)
    gc.collect()  # a full collection while the cycle is in use: it survives, and is frozen with the rest
    del node
    gc.collect()
    assert alive() is not None  # frozen: full collections no longer traverse it
    return alive


def _collections_until_due() -> None:
    for _ in range(gcpolicy.FULL_EVERY):
        gc.collect()
    assert gcpolicy.due()


async def _watch(idle_for, max_defer_s: float, seconds: float) -> None:
    watcher = asyncio.ensure_future(gcpolicy.collect_when_idle(idle_for, check_s=0.01, idle_s=0.5,
                                                               max_defer_s=max_defer_s))
    await asyncio.sleep(seconds)
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)


def test_a_cycle_frozen_while_in_use_waits_for_an_idle_moment_then_is_collected():
    gcpolicy.uninstall()
    try:
        gcpolicy.install()
        assert gc.get_freeze_count() > 0  # what was alive at install (in the emulator: the loaded tree)
        alive = _a_cycle_frozen_while_in_use()
        _collections_until_due()
        assert alive() is not None  # no full collection over everything was made by itself, under load
        asyncio.run(_watch(lambda: 0.0, max_defer_s=60, seconds=0.2))  # writes keep coming: it waits
        assert alive() is not None and gcpolicy.due()
        asyncio.run(_watch(lambda: 1.0, max_defer_s=60, seconds=0.2))  # a second without a write
        assert alive() is None and not gcpolicy.due()
        assert gc.get_freeze_count() > 0  # the survivors are frozen again
    finally:
        gcpolicy.uninstall()
    assert gc.get_freeze_count() == 0 and gcpolicy._after_collection not in gc.callbacks


def test_under_a_load_that_never_pauses_it_is_made_after_the_longest_wait():
    gcpolicy.uninstall()
    try:
        gcpolicy.install()
        alive = _a_cycle_frozen_while_in_use()
        _collections_until_due()
        asyncio.run(_watch(lambda: 0.0, max_defer_s=0.1, seconds=0.3))
        assert alive() is None and not gcpolicy.due()
    finally:
        gcpolicy.uninstall()


def test_nothing_is_due_before_the_tenth_full_collection():
    gcpolicy.uninstall()
    try:
        gcpolicy.install()
        for _ in range(gcpolicy.FULL_EVERY - 1):
            gc.collect()
        assert not gcpolicy.due()
        gc.collect()
        assert gcpolicy.due()
    finally:
        gcpolicy.uninstall()
    assert not gcpolicy.due()


def test_installing_twice_registers_one_policy():
    gcpolicy.uninstall()
    try:
        gcpolicy.install()
        gcpolicy.install()
        assert gc.callbacks.count(gcpolicy._after_collection) == 1
    finally:
        gcpolicy.uninstall()
