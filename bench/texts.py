"""How long real tickets are: the lengths the benchmarks give their tickets' descriptions.

Endava's support tickets (../shared/datasets, anonymised helpdesk e-mails) have bodies of 131 characters at the
median, 596 at p90 and 1,946 at p99; gitbugs' bug reports are longer still (359 at the median, 1,774 at p90).
The database's rules cut a description at 5,000 characters. The demo tickets the benchmarks otherwise use have
about 200 (subject and description), the pipeline's short ones about 50.
"""

import math
import random

REAL_MEDIAN_CHARS, REAL_P90_CHARS = 131, 596
MAX_CHARS = 5000  # the rules' limit on a description
_Z90 = 1.2816  # the standard normal's 90th percentile


def real_length(rnd: random.Random) -> int:
    """A description length drawn from the log-normal through Endava's median and p90, cut at ``MAX_CHARS``."""
    sigma = (math.log(REAL_P90_CHARS) - math.log(REAL_MEDIAN_CHARS)) / _Z90
    return min(MAX_CHARS, max(20, int(rnd.lognormvariate(math.log(REAL_MEDIAN_CHARS), sigma))))


def run_together(pieces: list[str], length: int, rnd: random.Random) -> str:
    """``pieces`` drawn at random and joined with spaces up to ``length`` characters, cut at a word."""
    parts, size = [], 0
    while size < length:
        parts.append(rnd.choice(pieces))
        size += len(parts[-1]) + 1
    text = " ".join(parts)
    return text[:length].rsplit(" ", 1)[0] if len(text) > length else text
