"""The agent queue in headless Chromium, for `bench.scale`: what an agent waits for, and what it costs the page.

`measure` opens web/queue.html in a fresh Chromium (Debian's, through Playwright, as tests/web drives it), signs in
as the local agent and times, on the page's own clock (`performance.now()`), each step until the frame after it
is drawn (`requestAnimationFrame`, then a task: the frame's style, layout and paint are done by then):
  - sign-in (the Enter key) to the first open rows, and to every open row, in the list;
  - the longest main-thread block (`PerformanceObserver` "longtask", 50 ms or more) while the queue sits idle for
    `watch_s` (35 s covers one refresh of the ages, every 30 s; the refreshes' own run times are recorded too),
    and while one new ticket arrives and one open ticket is solved (the webhook's update), each until its row
    shows or leaves;
  - a filter change (a category, then All again) until the list shows the filtered rows; opening a detail until
    the dialog shows; the Done list's first page and "Show more" until the rows show;
  - the bytes downloaded (BYTES_METHOD), the page's JavaScript heap and the whole browser's memory.

`python -m bench.scale_queue [--tickets 100000] [--runs 2] [--out FILE]` measures the queue alone (no REST rounds,
training's read or restart, which `bench.scale` adds): one durable emulator as `bench.scale` starts it, the same
realistic tickets, then `--runs` fresh browsers in turn over them; prints each run's figures as JSON and the best
and worst of each target figure (issue 14's, at 100k tickets with 2k open).
"""

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import psutil
import requests

CHROMIUM = Path("/usr/bin/chromium")
BYTES_METHOD = ("response bodies as Chromium received them: the sum of CDP Network.dataReceived dataLength over "
                "every request of the page, the SSE stream's chunks included (no compression on this path)")
ADMIN = {"Authorization": "Bearer owner"}
TIMEOUT_MS = 300_000  # rows that take longer than this are reported as never shown
SETTLE_MS = 2000  # after a live change, time for the page's follow-up read (a closed ticket is read once)
DONE_PAGE = 50  # web/js/queue.js DONE_PAGE

# Runs in the page before its own scripts: long tasks, timed setInterval callbacks, and the moments the
# open list first has rows and has all of them.
_INSTRUMENT = """(() => {
  const s = window.__scale = { long: [], ticks: [], marks: {}, expectOpen: Infinity };
  new PerformanceObserver((list) => { for (const e of list.getEntries()) s.long.push([e.startTime, e.duration]); })
    .observe({ type: "longtask", buffered: true });
  s.afterPaint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  s.until = (test) => new Promise((resolve) => {
    let observer = null;
    const check = () => {
      if (!test()) return false;
      observer?.disconnect();
      s.afterPaint().then(() => resolve(performance.now()));
      return true;
    };
    if (!check()) {
      observer = new MutationObserver(check);
      observer.observe(document.body, { childList: true, subtree: true, attributes: true });
    }
  });
  const realSetInterval = window.setInterval;
  window.setInterval = function (fn, ms, ...rest) {
    if (typeof fn !== "function") return realSetInterval.call(this, fn, ms, ...rest);
    return realSetInterval.call(this, function (...args) {
      const t0 = performance.now();
      try { return fn.apply(this, args); } finally { s.ticks.push([ms, t0, performance.now() - t0]); }
    }, ms, ...rest);
  };
  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("sign-in-password").addEventListener("keydown", (event) => {
      if (event.key === "Enter") s.marks.signIn = performance.now();
    }, true);
    const list = document.getElementById("open-list");
    const rows = list.getElementsByClassName("ticket-row"); // live: the rows in the list, whatever groups hold them
    const observer = new MutationObserver(() => {
      const n = rows.length;
      if (!s.marks.firstSeen && n > 0) { s.marks.firstSeen = 1; s.afterPaint().then(() => { s.marks.first = performance.now(); }); }
      if (!s.marks.allSeen && n >= s.expectOpen) {
        s.marks.allSeen = 1;
        observer.disconnect();
        s.afterPaint().then(() => { s.marks.all = performance.now(); });
      }
    });
    observer.observe(list, { childList: true, subtree: true });
  });
})();"""

_FILTER = """async (value) => {
  const select = document.getElementById("filter-category");
  const t0 = performance.now();
  select.value = value;
  select.dispatchEvent(new Event("input", { bubbles: true }));
  select.dispatchEvent(new Event("change", { bubbles: true }));
  const handler = performance.now() - t0;
  await window.__scale.afterPaint();
  return { handler_ms: handler, shown_ms: performance.now() - t0,
           rows: document.querySelectorAll("#open-list .ticket-row").length };
}"""

_DETAIL = """async (index) => {
  const rows = document.querySelectorAll("#open-list .ticket-row");
  const row = rows[Math.min(index, rows.length - 1)];
  const dialog = document.getElementById("detail");
  const t0 = performance.now();
  row.querySelector(".ticket-row__open").click();
  const handler = performance.now() - t0;
  await window.__scale.afterPaint();
  const shown = performance.now() - t0;
  const right = dialog.open && dialog.dataset.id === row.dataset.id;
  dialog.close();
  await window.__scale.afterPaint();
  return { handler_ms: handler, shown_ms: shown, right };
}"""

_DONE = """async ([selector, target]) => {
  const list = document.getElementById("done-list");
  const t0 = performance.now();
  document.querySelector(selector).click();
  const t1 = await window.__scale.until(() => list.getElementsByClassName("ticket-row").length >= target);
  return t1 - t0;
}"""


def unavailable() -> str | None:
    """Why the queue cannot be measured here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -r requirements-dev.txt)"
    if not CHROMIUM.exists():
        return f"Debian's Chromium is missing at {CHROMIUM} (apt-get install -y chromium)"
    return None


@contextlib.contextmanager
def browser(enabled: bool):
    """A function that launches a fresh headless Chromium (the caller closes it), or None when not `enabled`."""
    if not enabled:
        yield None
        return
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        yield lambda: playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                 args=CHROMIUM_ARGS + ["--enable-precise-memory-info"])


def measure(launch, site: str, db_url: str, data, watch_s: float, repeats: int) -> dict:
    """Sign in to the queue at `site` over the tickets `data` (a `bench.scale_data.Tickets`) and time it all.

    Returns the figures; `problems` lists what went wrong (console errors, rows that never showed).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from tests.web.pages import AGENT, DESKTOP

    chromium = launch()
    problems: list[str] = []
    try:
        page = chromium.new_context(viewport=DESKTOP).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text[:300]}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: problems.append(f"uncaught error: {exc}"))
        page.add_init_script(_INSTRUMENT)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Performance.enable")
        received = [0]
        cdp.on("Network.dataReceived", lambda event: received.__setitem__(0, received[0] + event["dataLength"]))

        page.goto(site + "queue.html")
        page.locator("#sign-in-form").wait_for(state="visible")
        page.evaluate("(n) => { window.__scale.expectOpen = n; }", data.open_count)
        page.fill("#sign-in-email", AGENT["email"])
        page.fill("#sign-in-password", AGENT["password"])
        received[0] = 0
        page.press("#sign-in-password", "Enter")
        try:
            page.wait_for_function("window.__scale.marks.all !== undefined", timeout=TIMEOUT_MS)
        except PlaywrightTimeout:
            shown = page.evaluate("document.querySelectorAll('#open-list .ticket-row').length")
            problems.append(f"the open rows did not all show within {TIMEOUT_MS / 1000:.0f} s: "
                            f"{shown} of {data.open_count}")
            return {"problems": problems}
        marks = page.evaluate("window.__scale.marks")
        out = {"first_rows_s": round((marks["first"] - marks["signIn"]) / 1000, 3),
               "rows_shown_s": round((marks["all"] - marks["signIn"]) / 1000, 3),
               "rows": data.open_count, "bytes_until_shown": received[0]}

        # Idle, through one refresh of the ages (every 30 s), then one new and one solved ticket.
        page.wait_for_timeout(watch_s * 1000)
        idle_end = page.evaluate("performance.now()")
        new_key, new_ticket = data.new_ticket(int(time.time() * 1000))
        closed_key = data.open_keys[0]
        before = received[0]
        page.evaluate("() => { for (const row of document.querySelectorAll('#open-list .ticket-row')) row.__mark = 1; }")
        page.evaluate("(k) => { window.__scale.armed = performance.now(); window.__scale.wait = window.__scale.until("
                      "() => document.querySelector(`#open-list .ticket-row[data-id='${k}']`)); }", new_key)
        requests.put(f"{db_url}/tickets/{new_key}.json", json=new_ticket, headers=ADMIN, timeout=60).raise_for_status()
        new_row_ms = page.evaluate("window.__scale.wait.then((t) => t - window.__scale.armed)")
        page.evaluate("(k) => { window.__scale.armed = performance.now(); window.__scale.wait = window.__scale.until("
                      "() => !document.querySelector(`#open-list .ticket-row[data-id='${k}']`)); }", closed_key)
        requests.patch(f"{db_url}/tickets/{closed_key}.json", json=data.outcome(closed_key, int(time.time() * 1000)),
                       headers=ADMIN, timeout=60).raise_for_status()
        closed_out_ms = page.evaluate("window.__scale.wait.then((t) => t - window.__scale.armed)")
        page.wait_for_timeout(SETTLE_MS)
        live_end = page.evaluate("performance.now()")
        redrawn = page.evaluate("[...document.querySelectorAll('#open-list .ticket-row')].filter((row) => !row.__mark).length")
        live_bytes = received[0] - before
        open_now = set(data.open_keys) - {closed_key} | {new_key}
        categories = {key: t["category"] for key, t in data.items if key in open_now}
        categories[new_key] = new_ticket["category"]

        filters = []
        for category in ("billing", "technical", "performance")[:repeats]:
            for value in (category, ""):
                step = page.evaluate(_FILTER, value)
                expected = sum(1 for c in categories.values() if c == value) if value else len(open_now)
                if step["rows"] != expected:
                    problems.append(f"filter {value or 'All'!r} showed {step['rows']} rows, not {expected}")
                filters.append({"value": value or "All", **{k: round(v, 1) if isinstance(v, float) else v
                                                            for k, v in step.items()}})
        details = []
        for index in (0, len(open_now) // 2, len(open_now) - 1)[:repeats]:
            step = page.evaluate(_DETAIL, index)
            if not step["right"]:
                problems.append(f"opening row {index} did not show its ticket in the dialog")
            details.append({"row": index, "handler_ms": round(step["handler_ms"], 1), "shown_ms": round(step["shown_ms"], 1)})

        done_total = len(data.items) - data.open_count + 1  # the one solved above
        before = received[0]
        target = min(DONE_PAGE, done_total)
        first_page_ms = page.evaluate(_DONE, ["#done-details > summary", target])
        more = []
        for _ in range(max(1, repeats)):
            if target >= done_total or page.locator("#done-more-bar").is_hidden():
                break
            target = min(target + DONE_PAGE, done_total)
            more.append(round(page.evaluate(_DONE, ["#done-more", target]), 1))
        pages = 1 + len(more)
        out["done"] = {"first_page_ms": round(first_page_ms, 1), "more_page_ms": max(more) if more else None,
                       "more_pages_ms": more, "rows": target, "bytes_per_page": round((received[0] - before) / pages)}

        instrument = page.evaluate("window.__scale")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        heap = page.evaluate("performance.memory.usedJSHeapSize")
        longest = _longest(instrument["long"])
        ticks = [t for t in instrument["ticks"] if t[0] == 30_000]
        out["idle"] = {"window_s": watch_s, "longest_block_ms": longest(marks["all"], idle_end),
                       "long_tasks": _count(instrument["long"], marks["all"], idle_end),
                       "age_refreshes": sum(1 for t in ticks if marks["all"] <= t[1] <= idle_end),
                       "age_refresh_ms": round(max((t[2] for t in ticks), default=0), 1) if ticks else None}
        out["live"] = {"new_row_ms": round(new_row_ms, 1), "closed_out_ms": round(closed_out_ms, 1),
                       "longest_block_ms": longest(idle_end, live_end), "bytes": live_bytes,
                       "long_tasks_ms": sorted((round(ms) for at, ms in instrument["long"] if idle_end <= at < live_end),
                                               reverse=True)[:10],
                       "rows_built": redrawn,  # the new ticket's row is 1; more means rows were rebuilt
                       "keys": {"new": new_key, "solved": closed_key}}
        out["longest_block_after_ms"] = max(out["idle"]["longest_block_ms"], out["live"]["longest_block_ms"])
        out["longest_block_loading_ms"] = longest(marks["signIn"], marks["all"])
        out["filter_ms"] = max(f["shown_ms"] for f in filters)
        out["filter_handler_ms"] = max(f["handler_ms"] for f in filters)
        out["filters"] = filters
        out["detail_ms"] = max(d["shown_ms"] for d in details)
        out["detail_handler_ms"] = max(d["handler_ms"] for d in details)
        out["details"] = details
        out["js_heap_mb"] = round(heap / 2**20, 1)
        out["dom_nodes"] = int(metrics.get("Nodes", 0))
        out["browser_pss_mb"] = round(_browser_pss() / 2**20)
        out["problems"] = problems
        return out
    finally:
        chromium.close()


def _longest(tasks: list):
    def within(start: float, end: float) -> float:
        return round(max((ms for at, ms in tasks if start <= at < end), default=0.0), 1)
    return within


def _count(tasks: list, start: float, end: float) -> int:
    return sum(1 for at, _ in tasks if start <= at < end)


def _browser_pss() -> int:
    """Proportional memory of every Chromium process this one started (shared pages counted once overall)."""
    total = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.name().startswith("chrom"):
                total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


# (figure, target): issue 14's queue targets, as bench.scale states them.
TARGETS = (("rows_shown_s", 1.5), ("longest_block_after_ms", 100.0), ("filter_ms", 100.0), ("detail_ms", 100.0))


def main(argv=None) -> None:
    from bench import scale, scale_data
    from bench.report import machine, save

    p = argparse.ArgumentParser(description="The agent queue alone at one size, in headless Chromium.")
    p.add_argument("--tickets", type=int, default=100_000)
    p.add_argument("--open-share", type=float, default=0.02)
    p.add_argument("--runs", type=int, default=1, help="fresh browsers, one after the other, on the same data")
    p.add_argument("--watch", type=float, default=35.0, help="idle seconds watched (over 30 covers an age refresh)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-issue15", action="store_true",
                   help="leave out the enrichment fields of issue 15 (language, confidence, explanations, "
                        "review_reasons; about 0.9 KB of each ticket), as tickets enriched before them are")
    p.add_argument("--out", default=None, help="save the figures as JSON here")
    args = p.parse_args(argv)
    why = unavailable()
    if why:
        raise SystemExit(f"cannot measure the queue: {why}")
    host = machine()
    host["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as work, browser(True) as launch:
        work = Path(work)
        (work / "triggers.json").write_text('{"triggers": []}')
        data = scale_data.Tickets(args.tickets, args.open_share, seed=args.seed, now_ms=int(time.time() * 1000),
                                  issue15=not args.no_issue15)
        emu = scale.Emulator(work / "database", work / "triggers.json")
        emu.start()
        try:
            with requests.Session() as session:
                written = scale.seed(session, emu.url, data.batches(2000))
            print(f"{args.tickets:,} tickets ({data.open_count:,} open) written in {written['seconds']} s", flush=True)
            # As in bench.scale, whose REST rounds come first: the emulator builds its `status` index at the first
            # query after a start (about 1 s at 100k), which is the database's cost, not the page's.
            started = time.perf_counter()
            requests.get(f"{emu.url}/tickets.json", params=scale.OPEN_QUERY, headers=ADMIN, timeout=600).raise_for_status()
            print(f"the open query's first answer (builds the index): {time.perf_counter() - started:.2f} s", flush=True)
            for n in range(args.runs):
                load = [round(x, 2) for x in os.getloadavg()]
                figures = measure(launch, emu.site, emu.url, data, watch_s=args.watch, repeats=args.repeats)
                figures["load_avg_at_start"] = load
                runs.append(figures)
                print(json.dumps(figures), flush=True)
                _restore(emu.url, data, figures)
        finally:
            emu.stop()
    host["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average before {host['load_avg_before']}, after {host['load_avg_after']}")
    for key, limit in TARGETS:
        values = [r[key] for r in runs if key in r]
        if values:
            print(f"  {key}: {min(values)} .. {max(values)} (target < {limit}): "
                  f"{'met' if max(values) < limit else 'MISSED' if min(values) >= limit else 'mixed'}")
    if args.out:
        save(args.out, {"benchmark": "scale_queue", "machine": host, "settings": vars(args), "runs": runs})


def _restore(db_url: str, data, figures: dict) -> None:
    """Undo a run's live change, so the next run finds the data as written: the new ticket gone, the solved one open."""
    keys = figures.get("live", {}).get("keys")
    if not keys:
        return
    requests.delete(f"{db_url}/tickets/{keys['new']}.json", headers=ADMIN, timeout=60).raise_for_status()
    original = dict(data.items)[keys["solved"]]
    requests.put(f"{db_url}/tickets/{keys['solved']}.json", json=original, headers=ADMIN, timeout=60).raise_for_status()


if __name__ == "__main__":
    main()
