"""The event loop's lateness: measured at every wake-up, and a stall over the limit logged with its length."""

import asyncio
import logging
import time

from emulator import looplag


def test_a_stall_of_the_loop_is_measured_and_logged(caplog):
    seen = []

    async def scenario():
        watcher = asyncio.get_running_loop().create_task(looplag.watch(seen.append, interval_s=0.02, warn_s=0.1))
        await asyncio.sleep(0.1)
        time.sleep(0.3)  # one step holds the loop, as a long serialisation would
        await asyncio.sleep(0.1)
        watcher.cancel()

    with caplog.at_level(logging.WARNING, logger="emulator.looplag"):
        asyncio.run(scenario())
    assert len(seen) >= 5 and all(late >= 0 for late in seen)
    assert 0.25 < max(seen) < 1.0, seen  # the stall, less what was left of the interval when it began
    assert sorted(seen)[len(seen) // 2] < 0.05  # most wake-ups on time
    stalls = [r.getMessage() for r in caplog.records]
    assert len(stalls) == 1 and "ms late" in stalls[0], stalls


def test_the_emulator_serves_its_loop_lag_on_metrics(http, emulator):
    time.sleep(0.3)  # a few wake-ups
    text = http.get(f"{emulator.url}/metrics").text
    count = [line for line in text.splitlines() if line.startswith("rtdb_event_loop_lag_seconds_count")]
    assert count and float(count[0].split()[-1]) >= 1, count
