"""Turn a ticket (as stored in the database) into the inputs the model reads.

Everything here is a pure function of the ticket's fields, shared by training and serving so
the two cannot drift apart. Tickets come from browsers and exports, so every field may be
missing, of the wrong type or carry a value never seen in training; none of that raises.
"""

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ticketml.mask import mask_pii

MODEL_INPUT_FIELDS = (
    "subject", "description", "category", "type", "impact", "experience", "seniority",
)
"""The ticket fields the model reads (and ``input_hash`` covers). ``contact`` is not one."""

ATTRIBUTES_FIELD = "attributes"
"""Optional mapping of extra structured fields an export may carry (ServiceNow location,
Jira component...). The model reads them as categoricals (strings) or numbers, and
``input_hash`` covers them when a ticket has any; tickets from the web form have none."""
MAX_ATTRIBUTES = 32

CATEGORICAL_FIELDS = ("category", "type", "experience")
PRIORITIES = ("P1", "P2", "P3", "P4")
SENTIMENTS = ("negative", "neutral", "positive")

MISSING = "(missing)"
MAX_TEXT_CHARS = 10_000  # Longer text is cut: it bounds masking and vectorising time.
DESCRIPTION_CHARS = 1_000
"""How much of the description training has the model read: its opening (``opening``), after masking.
A bundle records it in its params as ``description_chars`` and serving reads the same; bundles
without it read the whole description (``MAX_TEXT_CHARS``). It bounds a prediction's cost at any
length (the rules allow 5,000 characters), and on the public datasets the plain baseline scored
the same or better on the opening as on the whole text (``README.md``, "Models")."""
_IMPACT_RANGE = (0, 4)
_SENIORITY_MAX_YEARS = 100.0
_SENIORITY_SCALE = math.log1p(20.0)


@dataclass(frozen=True)
class ModelInput:
    """One ticket reduced to what the model reads.

    Attributes:
        text: Masked subject and description, joined; "" when the ticket has no text.
        fields: Sparse structured features (one-hot names -> 1.0, scaled numbers).
    """

    text: str
    fields: dict[str, float]


def input_hash(ticket: Mapping) -> str:
    """Return a stable sha256 hex digest of the fields the model reads.

    The digest covers exactly ``MODEL_INPUT_FIELDS`` (missing -> null) as canonical JSON:
    sorted keys, no whitespace, and integral floats written as integers, because the
    database (like JavaScript) does not distinguish ``3`` from ``3.0``.

    Args:
        ticket: The ticket as read from the database.

    A non-empty ``attributes`` mapping is covered too.

    Returns:
        64 lowercase hex characters.
    """
    canonical = {name: _canonical_value(ticket.get(name)) for name in MODEL_INPUT_FIELDS}
    attributes = ticket.get(ATTRIBUTES_FIELD)
    if isinstance(attributes, Mapping) and attributes:
        # Only present when non-empty, so the digest of an ordinary ticket never changes.
        canonical[ATTRIBUTES_FIELD] = {
            str(k): _canonical_value(v) for k, v in attributes.items()}
    payload = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
        allow_nan=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def model_input(ticket: Mapping, description_chars: int | None = None) -> ModelInput:
    """Reduce a ticket to masked text and structured features.

    Args:
        ticket: Any mapping; unknown, missing or mistyped fields are tolerated.
        description_chars: Read only the opening of the masked description, at most this many
            characters (``opening``); None reads all of it.

    Returns:
        The ticket's ModelInput.
    """
    if not isinstance(ticket, Mapping):
        ticket = {}
    subject = mask_pii(_text(ticket.get("subject")))
    # Masked whole, then cut: a cut first could leave part of an address or number unmasked.
    description = opening(mask_pii(_text(ticket.get("description"))), description_chars)
    text = f"{subject}\n{description}".strip()
    fields: dict[str, float] = {}
    for name in CATEGORICAL_FIELDS:
        fields[f"{name}={categorical(ticket.get(name))}"] = 1.0
    impact = number(ticket.get("impact"))
    if impact is None:
        fields["impact=" + MISSING] = 1.0
    else:
        low, high = _IMPACT_RANGE
        impact = float(min(max(impact, low), high))
        level = str(int(impact)) if impact.is_integer() else "other"
        fields[f"impact={level}"] = 1.0
        fields["impact"] = impact / high
    seniority = number(ticket.get("seniority"))
    if seniority is None or seniority < 0:
        fields["seniority=" + MISSING] = 1.0
    else:
        years = min(seniority, _SENIORITY_MAX_YEARS)
        fields["seniority_log"] = math.log1p(years) / _SENIORITY_SCALE
    fields.update(attribute_features(ticket.get(ATTRIBUTES_FIELD)))
    return ModelInput(text=text, fields=fields)


def attribute_features(attributes: object) -> dict[str, float]:
    """Structured features of a ticket's ``attributes``: ``attr.<name>=<value>`` one-hots for
    strings, ``attr.<name>`` = sign-preserving log1p for numbers (strings that hold a number
    stay categorical: export columns of codes are not quantities). Missing values become
    ``attr.<name>=(missing)``; at most ``MAX_ATTRIBUTES`` names, in sorted order, are read."""
    if not isinstance(attributes, Mapping):
        return {}
    fields: dict[str, float] = {}
    for name in sorted(str(k) for k in attributes)[:MAX_ATTRIBUTES]:
        value = attributes.get(name)
        key = "attr." + name[:64]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                fields[key] = math.copysign(math.log1p(abs(value)), value)
                continue
            value = None
        fields[f"{key}={categorical(value)}"] = 1.0
    return fields


def model_inputs(tickets: Sequence[Mapping], description_chars: int | None = None
                 ) -> tuple[list[str], list[dict[str, float]]]:
    """Reduce many tickets at once (``model_input``); returns (texts, field dicts) in the same order."""
    inputs = [model_input(t, description_chars) for t in tickets]
    return [i.text for i in inputs], [i.fields for i in inputs]


def opening(text: str, limit: int | None) -> str:
    """The first ``limit`` characters of ``text``, cut back to the last whitespace before the
    character left out, so that no word or placeholder is split (cut at ``limit`` itself when
    there is none), without trailing whitespace; all of ``text`` when ``limit`` is None or the
    text is no longer."""
    if limit is None or len(text) <= limit:
        return text
    end = limit  # the first character left out: cut back to whitespace
    while end > 0 and not text[end].isspace():
        end -= 1
    return (text[:end] if end else text[:limit]).rstrip()


def categorical(value: object) -> str:
    """Normalise a categorical value: trimmed, lower-case string, or ``(missing)``."""
    if value is None or isinstance(value, (dict, list)):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().lower()
    return text[:64] if text else MISSING


def number(value: object) -> float | None:
    """Parse a finite number from an int, float or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value) if isinstance(value, (int, float)) else ""
    return value[:MAX_TEXT_CHARS]


def _canonical_value(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
