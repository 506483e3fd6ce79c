"""Realistic stored tickets for `bench.scale`: what a year of the pipeline leaves in the database.

Each ticket is a demo ticket (`training.demo_data`: varied subjects and descriptions, contacts, categories) as the
form writes it (the ticket contract, with `uid`), plus what the rest of the system writes onto it later: the
function's `enrichment` (its shape, `input_hash` and `enriched_at`; the values follow the demo's own labels, since
running the model would take about 5 ms a ticket), the helpdesk link, and for done tickets the outcome as
`functions/enrichment/webhook.py` writes it (`resolution`, `status` solved or closed, `done_at`). Times are the
demo's year moved to end a minute before now, so ages read as they would. The enrichment carries what the predictor
writes since issue 15 (`language`, `confidence`, `explanations` of words of the ticket and its fields,
`review_reasons`), made up the same way. About 1.8 KB of JSON each (1.3 KB without issue 15's fields).

The open ones (`status` "new") are `open_share` of all, drawn from the most recent tickets, where open ones are.
"""

import json
import random
import re
from collections.abc import Iterator
from functools import cached_property

from emulator.pushid import PUSH_CHARS
from ticketml import explain
from ticketml.features import input_hash
from training import demo_data
from stack.procs import ROOT

HOUR_MS = 3_600_000
AUTO_CLOSE_MS = 72 * HOUR_MS  # Zendesk closes a solved ticket after a few days; demo_data uses the same
OPEN_POOL = 5  # open tickets are drawn from the newest OPEN_POOL x as many tickets
HELPDESK_URL = "http://127.0.0.1:5005"  # the helpdesk stub's local address, as the function records it
_DEMO_END_MS = int(demo_data.EXPORTED_AT.timestamp() * 1000)


class Tickets:
    """`n` tickets, `round(n * open_share)` of them open, the same for the same seed (and `now_ms`).

    Args:
      n: how many.
      open_share: the share with `status` "new".
      seed: the generator's seed.
      now_ms: the time the data ends at (its newest ticket is a minute older).
      issue15: give the enrichment issue 15's fields, as the function writes them now.
    """

    def __init__(self, n: int, open_share: float, seed: int, now_ms: int, issue15: bool = True):
        self.n, self.seed, self.now_ms, self.issue15 = n, seed, now_ms, issue15
        self.open_count = min(n, max(1, round(n * open_share)))  # the queue needs a row to show
        self.model_version = _model_version()

    @cached_property
    def items(self) -> list[tuple[str, dict]]:
        """(key, ticket), oldest first."""
        rng = random.Random(self.seed)
        pool = min(self.n, max(self.open_count, OPEN_POOL * self.open_count))
        opened = set(rng.sample(range(self.n - pool, self.n), self.open_count))
        shift = self.now_ms - 60_000 - _DEMO_END_MS
        items = [self._ticket(rng, i, record, shift, i in opened)
                 for i, record in enumerate(demo_data.generate(self.n, self.seed))]
        if self.issue15:
            _with_issue15_fields(items, self.seed)  # a generator of its own: the rest is as without them
        return items

    @property
    def keys_in_order(self) -> list[str]:
        """The keys in the database's order (push ids are never integer-like, so string order)."""
        return sorted(key for key, _ in self.items)

    @property
    def open_keys(self) -> list[str]:
        return [key for key, t in self.items if t["status"] == "new"]

    def open_in(self, category: str) -> int:
        """How many open tickets are in `category`."""
        return sum(1 for _, t in self.items if t["status"] == "new" and t["category"] == category)

    def batches(self, size: int) -> Iterator[str]:
        """The tickets as JSON bodies of multi-path PATCHes on /tickets, `size` tickets each."""
        items = self.items
        for start in range(0, len(items), size):
            yield json.dumps(dict(items[start:start + size]), separators=(",", ":"), ensure_ascii=False)

    def new_ticket(self, now_ms: int) -> tuple[str, dict]:
        """One more open ticket, sent now and already enriched."""
        rng = random.Random(now_ms)
        record = next(demo_data.generate(1, now_ms))
        record["created_at"] = _DEMO_END_MS
        return self._ticket(rng, self.n, record, now_ms - _DEMO_END_MS, True)

    def outcome(self, key: str, now_ms: int) -> dict:
        """The webhook's update of an open ticket the helpdesk just solved."""
        ticket = dict(self.items)[key]
        resolution = {"status": "solved", "final_priority": ticket["enrichment"]["priority"], "solved_at": now_ms,
                      "satisfaction": "good", "helpdesk_id": ticket["helpdesk"]["id"], "recorded_at": now_ms}
        return {"resolution": resolution, "status": "solved", "done_at": now_ms}

    def _ticket(self, rng: random.Random, i: int, record: dict, shift: int, is_open: bool) -> tuple[str, dict]:
        created = record["created_at"] + shift
        ticket = {
            "subject": record.get("subject") or record["description"][:60],
            "description": record["description"],
            "contact": record["contact"],
            "category": record["category"],
            "type": record["type"],
            "impact": int(record["impact"]),
            "experience": record.get("experience") or "experienced",
            "seniority": record.get("seniority", 1),
            "created_at": created,
            "status": "new",
            "uid": "".join(rng.choice(PUSH_CHARS[1:]) for _ in range(28)),
        }
        demo_outcome = record["resolution"]
        hours_ms = (demo_outcome["solved_at"] - record["created_at"] if demo_outcome.get("solved_at")
                    else int(rng.lognormvariate(3.0, 1.0) * HOUR_MS))
        digest = input_hash(ticket)
        ticket["enrichment"] = _enrichment(rng, demo_outcome["priority"], record["annotations"]["sentiment"],
                                           hours_ms, self.model_version, digest, created)
        helpdesk_id = 100_000 + i
        ticket["helpdesk"] = {"system": "zendesk", "id": helpdesk_id, "url": f"{HELPDESK_URL}/agent/tickets/{helpdesk_id}",
                              "synced_at": ticket["enrichment"]["enriched_at"] + rng.randint(20, 400),
                              "input_hash": digest}
        if not is_open:
            latest = self.now_ms - 1000
            solved = created + max(hours_ms, 60_000)
            if solved > latest:  # it would be solved later, but it is done: solved at some time until now
                solved = created + int(rng.random() * (latest - created))
            closed = solved + AUTO_CLOSE_MS if solved + AUTO_CLOSE_MS <= latest else None
            recorded = (closed or solved) + rng.randint(200, 2000)
            if recorded > latest:
                recorded = max(solved, latest - rng.randint(0, 60_000))
            status = "closed" if closed else "solved"
            resolution = {"status": status, "final_priority": demo_outcome["priority"], "solved_at": solved,
                          "closed_at": closed, "satisfaction": demo_outcome.get("satisfaction"),
                          "helpdesk_id": helpdesk_id, "recorded_at": recorded}
            ticket.update(resolution={k: v for k, v in resolution.items() if v is not None}, status=status,
                          done_at=recorded)
        return _push_id(rng, created), ticket


def _enrichment(rng, label: str, sentiment: str, hours_ms: int, version: str, digest: str, created: int) -> dict:
    others = [rng.random() for _ in range(3)]
    top = rng.uniform(0.4, 0.95)
    scores, rest = {}, iter(others)
    for p in ("P1", "P2", "P3", "P4"):
        scores[p] = top if p == label else next(rest) / sum(others) * (1 - top)
    scores = {p: round(s, 4) for p, s in scores.items()}
    score = {"negative": -rng.uniform(0.3, 1), "positive": rng.uniform(0.3, 1)}.get(sentiment, rng.uniform(-0.2, 0.2))
    p50 = max(0.1, round(hours_ms / HOUR_MS * rng.uniform(0.5, 1.5), 2))
    return {"priority": max(scores, key=scores.get), "priority_scores": scores,
            "sentiment": {"label": sentiment, "score": round(score, 4)},
            "resolution_hours": {"p50": p50, "p90": round(p50 * rng.uniform(1.8, 4.0), 2)},
            "needs_review": max(scores.values()) < 0.6, "model_version": version, "input_hash": digest,
            "enriched_at": created + rng.randint(150, 900)}


def _with_issue15_fields(items, seed: int) -> None:
    """Add to each ticket's enrichment what the predictor now writes (functions/ticketml/predictor.py): a language,
    a level per head, up to five explanations per head (words of its text and fields) and the review reasons."""
    rng = random.Random(seed)
    levels = ("high", "high", "medium", "low")
    for _, ticket in items:
        e = ticket["enrichment"]
        words = [w for w in re.findall(r"[a-z]{4,}", ticket["description"].lower())] or ["help"]
        fields = [f"category={ticket['category']}", f"type={ticket['type']}", f"impact={ticket['impact']}",
                  f"experience={ticket['experience']}", f"seniority={ticket['seniority']}"]

        def head(n):
            chosen = rng.sample(words, min(len(words), n - 1)) + [rng.choice(fields)]
            return [{"feature": f, "kind": "field" if "=" in f else "word", "weight": round(rng.uniform(-0.6, 0.9), 4)}
                    for f in chosen]
        e["language"] = "en" if rng.random() < 0.97 else rng.choice(["fr", "de", "und"])
        e["confidence"] = {h: rng.choice(levels) for h in ("priority", "sentiment", "resolution")}
        e["explanations"] = explain.stored({"priority": head(5), "sentiment": head(3), "resolution": head(5)})
        reasons = ([f"language:{e['language']}"] if e["language"] not in ("en", "und") else []) + (
            ["low_confidence:priority"] if e["needs_review"] else [])
        if reasons:
            e["review_reasons"] = reasons
        e["needs_review"] = bool(reasons)


def _push_id(rng: random.Random, ms: int) -> str:
    """A push id for time `ms` (as `emulator.pushid` makes them), with seeded random characters."""
    stamp = []
    for _ in range(8):
        stamp.append(PUSH_CHARS[ms % 64])
        ms //= 64
    return "".join(reversed(stamp)) + "".join(rng.choice(PUSH_CHARS) for _ in range(12))


def _model_version() -> str:
    try:
        return json.loads((ROOT / "model" / "current.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "bench"
