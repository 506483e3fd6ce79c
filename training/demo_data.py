"""A seeded generator of realistic demo tickets with known outcomes, as a helpdesk export.

Each record is a ticket as the web form writes it (``subject``, ``description``, ``contact``,
``category``, ``type``, ``impact``, ``experience``, ``seniority``, ``created_at``) plus what a
helpdesk knows later: ``status`` (closed | solved | open), ``resolution`` ({priority,
solved_at, closed_at, satisfaction}), ``annotations.sentiment`` and ``exported_at``.

How the labels arise (so a model has something real to learn, and something it cannot):
  * priority: a latent score from impact, urgency cues in the text ("production is down",
    "whenever you get a chance"), type, category and the problem's severity, plus noise;
  * sentiment: the customer's mood (angry / neutral / grateful), voiced in the text most of
    the time, with a few percent of annotator disagreement;
  * resolution hours: log-normal around a mean set by category, type, priority, experience,
    seniority and the problem, with category-dependent spread. Tickets whose resolution
    would fall after ``exported_at`` are still open: their time is censored, not zero.
Contact details, card numbers and URL tokens appear in some descriptions so masking matters;
a few records have missing or mistyped fields, and a few are duplicate submissions.
"""

import json
import math
import random
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from training import _demo_text as words

DEMO_START = datetime(2025, 1, 1, tzinfo=timezone.utc)
EXPORTED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)
_MS_PER_HOUR = 3_600_000
_AUTO_CLOSE_HOURS = 72

CATEGORIES = ("technical", "performance", "authentication", "billing")
_CATEGORY_WEIGHTS = (0.38, 0.2, 0.22, 0.2)
_TYPE_ISSUE_SHARE = 0.62
_IMPACT_WEIGHTS = (0.1, 0.25, 0.3, 0.22, 0.13)
EXPERIENCES = ("beginner", "experienced", "advanced", "trainer")
_EXPERIENCE_WEIGHTS = (0.3, 0.4, 0.22, 0.08)

# Priority: latent = impact + urgency + type + category + severity + noise, then cut.
_URGENCY_HIGH_BY_IMPACT = (0.03, 0.06, 0.12, 0.25, 0.45)
_URGENCY_LOW_BY_IMPACT = (0.35, 0.25, 0.12, 0.05, 0.02)
_URGENCY_SHIFT = {"high": 2.0, "none": 0.0, "low": -1.2}
_CATEGORY_SHIFT = {"technical": 0.2, "performance": 0.1, "authentication": 0.4, "billing": -0.3}
_PRIORITY_CUTS = ((4.6, "P1"), (3.0, "P2"), (1.2, "P3"))
_PRIORITY_NOISE = 0.55

# Resolution: log(hours) = base + adjustments + N(0, sigma).
_LOG_HOURS = {"technical": math.log(24), "performance": math.log(36),
              "authentication": math.log(5), "billing": math.log(8)}
_LOG_HOURS_SIGMA = {"technical": 0.85, "performance": 0.9, "authentication": 0.55, "billing": 0.6}
_PRIORITY_HOURS = {"P1": -1.3, "P2": -0.5, "P3": 0.0, "P4": 0.5}
_EXPERIENCE_HOURS = {"beginner": -0.3, "experienced": 0.0, "advanced": 0.25, "trainer": 0.1}

_MOOD_LABEL = {"angry": "negative", "neutral": "neutral", "grateful": "positive"}
_MOOD_VOICED = 0.85
_LABEL_NOISE = 0.06
_DUPLICATE_SHARE = 0.005


def generate(n: int, seed: int) -> Iterator[dict]:
    """Yield ``n`` demo records in order of ``created_at``; the same seed yields the same data.

    Args:
        n: Number of records.
        seed: Seed of the generator.
    """
    rng = random.Random(seed)
    span_ms = (EXPORTED_AT - DEMO_START).total_seconds() * 1000
    start_ms = int(DEMO_START.timestamp() * 1000)
    created = sorted(start_ms + int(rng.random() * span_ms) for _ in range(n))
    previous: dict | None = None
    for i, created_at in enumerate(created):
        if previous is not None and rng.random() < _DUPLICATE_SHARE:
            record = json.loads(json.dumps(previous))  # A customer submitting twice.
            record["created_at"] = created_at
            record["id"] = f"demo-{i:06d}"
            _set_outcome(record, record["_hours"], record["resolution"]["priority"])
        else:
            record = _ticket(rng, f"demo-{i:06d}", created_at)
        previous = record
        yield {k: v for k, v in record.items() if not k.startswith("_")}


def write_jsonl(n: int, seed: int, out: str | Path, progress=None) -> int:
    """Write ``n`` demo records as JSON lines to ``out``; returns the number written.

    Args:
        n: Number of records.
        seed: Seed of the generator.
        out: Destination file (parent directories are created).
        progress: Optional wrapper for the record iterator, e.g. ``tqdm``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = generate(n, seed)
    if progress is not None:
        records = progress(records, total=n)
    count = 0
    with open(out, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def _ticket(rng: random.Random, ticket_id: str, created_at: int) -> dict:
    category = rng.choices(CATEGORIES, _CATEGORY_WEIGHTS)[0]
    ticket_type = "issue" if rng.random() < _TYPE_ISSUE_SHARE else "request"
    impact = rng.choices(range(5), _IMPACT_WEIGHTS)[0]
    experience = rng.choices(EXPERIENCES, _EXPERIENCE_WEIGHTS)[0]
    seniority = round(min(rng.expovariate(1 / 3.0), 25.0), 1)
    roll = rng.random()
    urgency = ("high" if roll < _URGENCY_HIGH_BY_IMPACT[impact]
               else "low" if roll > 1 - _URGENCY_LOW_BY_IMPACT[impact] else "none")
    p_angry = 0.15 + 0.25 * (urgency == "high") + 0.1 * (ticket_type == "issue")
    p_grateful = 0.22 + 0.1 * (urgency == "low")
    roll = rng.random()
    mood = "angry" if roll < p_angry else "grateful" if roll < p_angry + p_grateful else "neutral"
    problem = rng.choice(words.PROBLEMS[(category, ticket_type)])
    contact = _contact(rng)

    latent = (0.85 * impact + _URGENCY_SHIFT[urgency] + 0.35 * (ticket_type == "issue")
              + _CATEGORY_SHIFT[category] + 0.8 * problem["severity"]
              + rng.gauss(0, _PRIORITY_NOISE))
    priority = next((p for cut, p in _PRIORITY_CUTS if latent >= cut), "P4")
    log_hours = (_LOG_HOURS[category] + (0.3 if ticket_type == "issue" else -0.2)
                 + _PRIORITY_HOURS[priority] + _EXPERIENCE_HOURS[experience]
                 + problem["hours"] - 0.02 * seniority
                 + rng.gauss(0, _LOG_HOURS_SIGMA[category]))
    sentiment = _MOOD_LABEL[mood]
    if rng.random() < _LABEL_NOISE:
        sentiment = rng.choice([s for s in _MOOD_LABEL.values() if s != sentiment])

    record = {
        "id": ticket_id,
        "subject": _subject(rng, problem, urgency, mood),
        "description": _description(rng, problem, category, urgency, mood, contact),
        "contact": {"name": contact["name"], "email": contact["email"]},
        "category": category,
        "type": ticket_type,
        "impact": impact,
        "experience": experience,
        "seniority": seniority,
        "created_at": created_at,
        "annotations": {"sentiment": sentiment},
        "_hours": round(math.exp(log_hours), 3),
        "_mood": mood,
    }
    _damage(rng, record)
    _set_outcome(record, record["_hours"], priority)
    return record


def _set_outcome(record: dict, hours: float, priority: str) -> None:
    exported_ms = int(EXPORTED_AT.timestamp() * 1000)
    solved_at = record["created_at"] + int(hours * _MS_PER_HOUR)
    closed_at = solved_at + _AUTO_CLOSE_HOURS * _MS_PER_HOUR
    resolution = {"priority": priority}
    if solved_at > exported_ms:
        record["status"] = "open"
    else:
        record["status"] = "closed" if closed_at <= exported_ms else "solved"
        resolution["solved_at"] = solved_at
        resolution["closed_at"] = closed_at if closed_at <= exported_ms else None
        bad = record.get("_mood") == "angry" or hours > 100
        resolution["satisfaction"] = "bad" if bad and hours > 20 else "good"
    record["resolution"] = resolution
    record["exported_at"] = exported_ms


def _damage(rng: random.Random, record: dict) -> None:
    """Make a few records messy, as real exports are."""
    roll = rng.random()
    if roll < 0.03:
        del record["seniority"]
    elif roll < 0.05:
        record["experience"] = None
    elif roll < 0.07:
        record["impact"] = str(record["impact"])
    elif roll < 0.08:
        record["subject"] = ""


def _subject(rng: random.Random, problem: dict, urgency: str, mood: str) -> str:
    subject = _fill(rng, rng.choice(problem["subject"]))
    if urgency == "high" and rng.random() < 0.35:
        subject = rng.choice(["URGENT: ", "Critical: ", "ASAP - ", "Outage: "]) + subject
    elif mood == "angry" and rng.random() < 0.2:
        subject = rng.choice(["Still not fixed: ", "Again: ", "Re: "]) + subject
    return subject


def _description(rng, problem, category, urgency, mood, contact) -> str:
    parts = [rng.choice(words.GREETINGS), _fill(rng, rng.choice(words.CONTEXT)),
             _fill(rng, rng.choice(problem["body"])), _fill(rng, rng.choice(words.DETAILS))]
    if urgency == "high":
        parts.append(rng.choice(words.URGENCY_HIGH))
    elif urgency == "low":
        parts.append(rng.choice(words.URGENCY_LOW))
    if mood != "neutral" and rng.random() < _MOOD_VOICED:
        cues = words.MOOD_ANGRY if mood == "angry" else words.MOOD_GRATEFUL
        parts.insert(rng.randint(2, len(parts)), _fill_mood(rng, rng.choice(cues)))
    if rng.random() < 0.3:
        parts.append(rng.choice(words.PII_SENTENCES).format(**contact))
    if category == "billing" and rng.random() < 0.2:
        parts.append(rng.choice(words.CARD_SENTENCES).format(card=_card_number(rng)))
    if category == "technical" and rng.random() < 0.1:
        parts.append(rng.choice(words.SECRET_SENTENCES).format(hex=f"{rng.getrandbits(96):024x}"))
    closing = rng.choice(words.CLOSINGS)
    if closing:
        parts.append(f"{closing}\n{contact['first'] if rng.random() < 0.6 else contact['name']}")
    return " ".join(p for p in parts if p)


def _fill(rng: random.Random, template: str) -> str:
    values = {slot: rng.choice(options) for slot, options in words.SLOTS.items()}
    values.update(
        version=f"{rng.randint(2, 6)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}",
        n=str(rng.choice([3, 5, 12, 40, 150, 800, 2500])),
        invoice=f"INV-2025-{rng.randint(1, 99999):05d}",
        amount=f"${rng.randint(19, 4999)}.{rng.choice(['00', '50', '99'])}",
        ticket_no=str(rng.randint(10_000, 99_999_999)),
        request_id=f"{rng.getrandbits(32):08x}",
        octet=str(rng.randint(0, 255)),
    )
    # Slot values may themselves hold slots ("since we upgraded to {version}").
    return template.format(**values).format(**values)


def _fill_mood(rng: random.Random, template: str) -> str:
    values = {slot: rng.choice(options) for slot, options in words.MOOD_SLOTS.items()}
    values["product"] = rng.choice(words.SLOTS["product"])
    return template.format(**values)


def _contact(rng: random.Random) -> dict:
    first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}"]).lower()
    local = local.replace("ü", "ue")
    phone = rng.choice([
        f"+1 ({rng.randint(200, 989)}) {rng.randint(200, 989)}-{rng.randint(0, 9999):04d}",
        f"+49 30 {rng.randint(1000000, 99999999)}",
        f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        f"0{rng.randint(151, 179)} {rng.randint(1000000, 9999999)}",
        f"{rng.randint(200, 989)}-{rng.randint(200, 989)}-{rng.randint(0, 9999):04d}",
    ])
    return {"first": first, "name": f"{first} {last}",
            "email": f"{local}@{rng.choice(words.DOMAINS)}", "phone": phone}


def _card_number(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # Check digit: Luhn over the payload.
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i:i + 4] for i in range(0, 16, 4))
