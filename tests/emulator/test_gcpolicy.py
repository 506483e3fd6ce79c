"""The collector's policy in the emulator's process: survivors of full collections are frozen out of the next ones,
and every FULL_EVERY-th full collection is made over everything, so cycles frozen while in use are collected."""

import gc
import weakref

from emulator import gcpolicy


class _Node:
    pass


def test_a_cycle_frozen_while_in_use_is_collected_by_the_next_full_collection_over_everything():
    gcpolicy.uninstall()
    try:
        gcpolicy.install()
        assert gc.get_freeze_count() > 0  # what was alive at install (in the emulator: the loaded tree)
        node = _Node()
        node.itself = node
        alive = weakref.ref(node)
        gc.collect()  # a full collection while the cycle is in use: it survives, and is frozen with the rest
        del node
        gc.collect()
        assert alive() is not None  # frozen: full collections no longer traverse it
        for _ in range(gcpolicy.FULL_EVERY):
            gc.collect()
        assert alive() is None  # one of these was made over everything
    finally:
        gcpolicy.uninstall()
    assert gc.get_freeze_count() == 0 and gcpolicy._after_collection not in gc.callbacks


def test_installing_twice_registers_one_policy():
    gcpolicy.uninstall()
    try:
        gcpolicy.install()
        gcpolicy.install()
        assert gc.callbacks.count(gcpolicy._after_collection) == 1
    finally:
        gcpolicy.uninstall()
