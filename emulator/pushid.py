"""Push ids: 20 characters that sort in creation order, as Firebase generates them.

8 characters of the millisecond timestamp in base 64 (most significant first), then 12 random
characters; two ids in the same millisecond increment the random part so they stay ordered.
"""

import secrets
import threading
import time

PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_TIME_CHARS = 8
_RANDOM_CHARS = 12


class PushIdGenerator:
    """Generates strictly increasing push ids (thread-safe).

    Args:
      clock: milliseconds since the epoch.
    """

    def __init__(self, clock=lambda: int(time.time() * 1000)):
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = [0] * _RANDOM_CHARS

    def next_id(self) -> str:
        """A new push id, greater than every id this generator returned before."""
        with self._lock:
            now = max(self._clock(), self._last_ms)
            if now == self._last_ms:
                if not self._increment():
                    now += 1  # 64**12 ids in one millisecond: borrow the next millisecond
            else:
                # 72 random bits drawn at once, six to a character: one read of the system's source, not twelve.
                bits = secrets.randbits(6 * _RANDOM_CHARS)
                self._last_random = [(bits >> (6 * i)) & 63 for i in range(_RANDOM_CHARS)]
            self._last_ms = now
            stamp, ms = [], now
            for _ in range(_TIME_CHARS):
                stamp.append(PUSH_CHARS[ms % 64])
                ms //= 64
            return "".join(reversed(stamp)) + "".join(PUSH_CHARS[i] for i in self._last_random)

    def _increment(self) -> bool:
        for i in range(_RANDOM_CHARS - 1, -1, -1):
            if self._last_random[i] != 63:
                self._last_random[i] += 1
                return True
            self._last_random[i] = 0
        return False
