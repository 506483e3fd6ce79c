"""What every benchmark shares: percentiles, the machine's description, a process tree's CPU time, a printed
table, the saved JSON, and reading a sample out of a Prometheus `/metrics` page."""

import json
import os
import platform
import timeit
from datetime import datetime, timezone
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families


def pct(samples, q):
    """The q-th percentile (0-100) of samples, nearest-rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


def metric(text: str, name: str) -> float:
    """The sum over labels of the Prometheus sample `name` in an exposition `text`.

    Raises:
      KeyError: `text` has no such sample (a renamed metric must not read as zero).
    """
    values = [s.value for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]
    if not values:
        raise KeyError(f"no {name} in /metrics")
    return sum(values)


def histogram(text: str, name: str) -> dict[float, float]:
    """The cumulative bucket counts of the Prometheus histogram `name` in an exposition `text`, summed over
    labels: {upper bound in seconds (inf for +Inf): observations at or under it}.

    Raises:
      KeyError: `text` has no such histogram.
    """
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{name}_bucket":
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
    if not buckets:
        raise KeyError(f"no {name} histogram in /metrics")
    return dict(sorted(buckets.items()))


def window_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-th percentile (0-100) of the observations a histogram gained between two readings (`histogram`),
    as the upper bound of the bucket it falls in, in seconds (inf past the last bound); None if it gained none."""
    gained = {le: count - before.get(le, 0.0) for le, count in after.items()}
    total = max(gained.values(), default=0.0)
    if total <= 0:
        return None
    return next(le for le, count in gained.items() if count >= q / 100 * total)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its children (gunicorn's workers); 0.0 for a
    process that is gone."""
    try:
        root = psutil.Process(pid)
        return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0.0


def machine() -> dict:
    """The machine, the date, and how fast one core runs Python right now (see `speed_probe_ms`)."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "speed_probe_ms": speed_probe_ms()}


def speed_probe_ms() -> float:
    """Best of five timings of a fixed pure-Python loop, in ms: lower is a faster core.

    Shared virtual machines of one size differ from day to day (the same code has measured 1.8 times the CPU per
    ticket on another day), so each result records this next to its figures to make days comparable.
    """
    return round(min(timeit.repeat("sum(i * i for i in range(10**6))", number=1, repeat=5)) * 1000, 1)


def fsync_ms(folder: str | Path, n: int = 200) -> dict:
    """p50 and p99 of one fsync of a small append in `folder`: the disk's floor under every durable write."""
    import time

    path = Path(folder) / "fsync-probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(n):
            os.write(fd, b"x" * 100)
            start = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return {"p50": round(pct(times, 50) * 1000, 2), "p99": round(pct(times, 99) * 1000, 2)}


def table(title: str, columns: list[tuple[str, str]], rows: list[dict]) -> None:
    """Print `rows` under `title`, one column per (header, key); absent values print as '-'."""
    cells = [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max([len(header)] + [len(r[j]) for r in cells]) for j, (header, _) in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(header.rjust(w) for (header, _), w in zip(columns, widths)))
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def save(path: str | Path, result: dict) -> None:
    """Write `result` as indented JSON (creating the folder) and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {path}")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
