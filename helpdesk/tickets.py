"""Ticket fields as Zendesk defines them: validation of create/update bodies and JSON rendering.

Pure functions over dicts; the store persists what these return, ``api.py`` serves what they render.
"""

from __future__ import annotations

import json
from typing import Any

from helpdesk.errors import NotFound, RecordInvalid

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TYPES = ("problem", "incident", "question", "task")
SATISFACTION_SCORES = ("unoffered", "offered", "good", "bad")
FINAL_STATUSES = ("solved", "closed")
MAX_TEXT = 65_536  # Zendesk caps a comment at 64 KB.
MAX_SHORT_TEXT = 1_024
MAX_ID = 2**63 - 1  # SQLite INTEGER range.
_SHOWN_VALUE_CHARS = 80


def validate_create(data: Any) -> dict[str, Any]:
    """Validates the ``ticket`` object of a create request.

    Args:
        data: the value of the body's ``ticket`` key.

    Returns:
        Normalised fields: subject, raw_subject, description, comment, status, priority,
        type, tags, custom_fields, external_id, requester, requester_id, satisfaction_rating.

    Raises:
        RecordInvalid: one or more fields are invalid, or neither comment nor description is given.
    """
    errors: dict[str, list[str]] = {}
    fields = _common_fields(data, errors)
    description = _text(data, "description", errors, MAX_TEXT) if isinstance(data, dict) else None
    comment = fields.pop("comment", None)
    if comment is None and not (description and description.strip()) and "comment" not in errors:
        errors.setdefault("comment", []).append(
            'Invalid comment: "null". A new ticket needs a comment with a non-empty body (or a description).')
    if errors:
        raise RecordInvalid(errors)
    # Zendesk's description is read-only: it is the first comment's body.
    comment = comment or {"body": description, "public": True, "author_id": None}
    fields.update(description=comment["body"], comment=comment)
    if not fields.get("subject"):
        fields["subject"] = comment["body"].strip().splitlines()[0][:150]
    fields.setdefault("raw_subject", fields["subject"])
    fields.setdefault("status", "new")
    return fields


def validate_update(data: Any) -> dict[str, Any]:
    """Validates the ``ticket`` object of an update request; absent fields stay unchanged.

    Args:
        data: the value of the body's ``ticket`` key.

    Returns:
        Only the fields present in ``data``, normalised; ``comment`` if one is to be added.

    Raises:
        RecordInvalid: one or more fields are invalid.
    """
    errors: dict[str, list[str]] = {}
    fields = _common_fields(data, errors)
    if errors:
        raise RecordInvalid(errors)
    return fields


def parse_id(raw: str) -> int:
    """Parses a record id from a URL segment (``42`` or ``42.json``).

    Raises:
        NotFound: not a positive integer in SQLite's range, so no record can have it.
    """
    digits = raw.removesuffix(".json")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19 or not 1 <= int(digits) <= MAX_ID:
        raise NotFound(f'Invalid id: "{raw[:40]}". Must be a positive integer.')
    return int(digits)


def render_ticket(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Renders a stored ticket as the JSON object Zendesk returns.

    Args:
        row: a ticket as returned by the store.
        base_url: scheme and host of the API, without a trailing slash.

    Returns:
        The ticket object, with ``url`` pointing at ``<base_url>/api/v2/tickets/<id>.json``.
    """
    return {
        "id": row["id"],
        "url": f"{base_url}/api/v2/tickets/{row['id']}.json",
        "external_id": row["external_id"],
        "type": row["type"],
        "subject": row["subject"],
        "raw_subject": row["raw_subject"],
        "description": row["description"],
        "priority": row["priority"],
        "status": row["status"],
        "recipient": None,
        "requester_id": row["requester_id"],
        "submitter_id": row["submitter_id"],
        "assignee_id": None,
        "organization_id": None,
        "group_id": None,
        "collaborator_ids": [],
        "follower_ids": [],
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": row["tags"],
        "custom_fields": row["custom_fields"],
        "fields": row["custom_fields"],
        "satisfaction_rating": row["satisfaction_rating"],
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def webhook_body(row: dict[str, Any], event: str) -> dict[str, Any]:
    """Builds the JSON body POSTed to the webhook when a ticket is solved or closed.

    Args:
        row: the ticket after the change, as returned by the store.
        event: ``ticket.solved`` or ``ticket.closed``.

    Returns:
        ``{"ticket": {id, external_id, status, priority, solved_at, closed_at, updated_at,
        satisfaction_rating}, "event": event}``.
    """
    keys = ("id", "external_id", "status", "priority", "solved_at", "closed_at", "updated_at",
            "satisfaction_rating")
    return {"ticket": {key: row[key] for key in keys}, "event": event}


def _common_fields(data: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    if not isinstance(data, dict):
        errors["ticket"] = [f'Invalid ticket: "{_show(data)}". Must be a JSON object.']
        return {}
    out: dict[str, Any] = {}
    for name in ("subject", "raw_subject"):
        if name in data:
            out[name] = _text(data, name, errors, MAX_SHORT_TEXT) or ""
    for name, allowed, nullable in (("status", STATUSES, False), ("priority", PRIORITIES, True),
                                    ("type", TYPES, True)):
        if name in data:
            out[name] = _choice(data[name], name, allowed, nullable, errors)
    if "external_id" in data:
        value = data["external_id"]
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            _err(errors, "external_id", value, "Must be a string of at most 255 characters or null")
        out["external_id"] = value
    if "tags" in data:
        out["tags"] = _tags(data["tags"], errors)
    for name in ("custom_fields", "fields"):
        if name in data:
            out["custom_fields"] = _custom_fields(data[name], name, errors)
    if "comment" in data:
        out["comment"] = _comment(data["comment"], errors)
    if "requester_id" in data:
        out["requester_id"] = _int_id(data["requester_id"], "requester_id", errors)
    if "requester" in data:
        out["requester"] = _requester(data["requester"], errors)
    if "satisfaction_rating" in data:
        out["satisfaction_rating"] = _satisfaction(data["satisfaction_rating"], errors)
    return out


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[:_SHOWN_VALUE_CHARS] + "..."


def _err(errors: dict[str, list[str]], field: str, value: Any, rule: str) -> None:
    errors.setdefault(field, []).append(f'Invalid {field}: "{_show(value)}". {rule}.')


def _text(data: dict, name: str, errors: dict[str, list[str]], limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        _err(errors, name, value, f"Must be a string of at most {limit} characters")
        return None
    return value


def _choice(value: Any, name: str, allowed: tuple[str, ...], nullable: bool,
            errors: dict[str, list[str]]) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or value not in allowed:
        _err(errors, name, value, f"Must be one of {', '.join(allowed)}" + (" or null" if nullable else ""))
        return None
    return value


def _int_id(value: Any, name: str, errors: dict[str, list[str]]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        _err(errors, name, value, "Must be a positive integer id")
        return None
    return value


def _tags(value: Any, errors: dict[str, list[str]]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        _err(errors, "tags", value, "Must be a list of strings")
        return []
    tags: list[str] = []
    for tag in value:
        # Zendesk splits tags on whitespace and stores them in lower case.
        for part in tag.lower().split():
            if part not in tags:
                tags.append(part[:MAX_SHORT_TEXT])
    return tags


def _custom_fields(value: Any, name: str, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    rule = 'Must be a list of {"id": positive integer, "value": string, number, boolean, list or null}'
    if not isinstance(value, list):
        _err(errors, name, value, rule)
        return []
    result: dict[int, Any] = {}
    for item in value:
        ok = (isinstance(item, dict) and isinstance(item.get("id"), int)
              and not isinstance(item["id"], bool) and 1 <= item["id"] <= MAX_ID
              and not isinstance(item.get("value"), dict))
        if not ok:
            _err(errors, name, item, rule)
            return []
        result[item["id"]] = item.get("value")
    return [{"id": key, "value": val} for key, val in result.items()]


def _comment(value: Any, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    if isinstance(value, dict):
        body = value.get("body", value.get("html_body"))
        public = value.get("public", True)
        author = value.get("author_id")
        if (isinstance(body, str) and body.strip() and len(body) <= MAX_TEXT and isinstance(public, bool)
                and (author is None or _int_id(author, "comment", errors) is not None)):
            return {"body": body, "public": public, "author_id": author}
    if "comment" not in errors:
        _err(errors, "comment", value,
             f'Must be an object with a non-empty "body" of at most {MAX_TEXT} characters and a boolean "public"')
    return None


def _requester(value: Any, errors: dict[str, list[str]]) -> dict[str, str] | None:
    if isinstance(value, dict):
        name, email = value.get("name"), value.get("email")
        name_ok = name is None or (isinstance(name, str) and len(name) <= MAX_SHORT_TEXT)
        email_ok = email is None or (isinstance(email, str) and 3 <= len(email) <= 254 and "@" in email[1:-1])
        if name_ok and email_ok and (name or email):
            return {"name": (name or email.split("@")[0]).strip() or "Requester",
                    "email": email.strip().lower() if email else None}
    _err(errors, "requester", value, 'Must be an object with a "name" and/or a valid "email"')
    return None


def _satisfaction(value: Any, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict) and value.get("score") in SATISFACTION_SCORES:
        comment = value.get("comment")
        if comment is None or (isinstance(comment, str) and len(comment) <= MAX_TEXT):
            return {"score": value["score"], "comment": comment}
    _err(errors, "satisfaction_rating", value,
         f'Must be null or an object with "score" one of {", ".join(SATISFACTION_SCORES)} and an optional "comment"')
    return None
