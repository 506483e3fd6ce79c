"""Ticket audits, as Zendesk returns one beside every created or updated ticket: who wrote what, as events.

A create lists a ``Comment`` event (the description) and a ``Create`` event per property the ticket starts with;
an update lists a ``Comment`` event if it adds one and a ``Change`` event (with ``previous_value``) per property it
changes; custom fields are named by their id, as Zendesk names them. Pure functions; the store persists the events.
"""

from __future__ import annotations

from typing import Any

AUDITED_FIELDS = ("subject", "requester_id", "status", "priority", "type", "tags", "external_id")
SYSTEM_AUTHOR_ID = -1  # Zendesk's author of changes no user made (here: the stub's own web page)


def create_events(ticket: dict[str, Any], comment: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of a ticket's creation.

    Args:
        ticket: the ticket as stored right after the insert.
        comment: its first comment (``body``, ``public``, ``author_id``).

    Returns:
        The Comment event, then a Create event per audited field or custom field that has a value.
    """
    events = [comment_event(comment)]
    events += [{"type": "Create", "field_name": name, "value": ticket[name]}
               for name in AUDITED_FIELDS if ticket[name] not in (None, "", [])]
    events += [{"type": "Create", "field_name": str(field["id"]), "value": field["value"]}
               for field in ticket["custom_fields"] if field["value"] is not None]
    return events


def change_events(before: dict[str, Any], after: dict[str, Any],
                  comment: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Events of one update.

    Args:
        before: the ticket as stored before the update.
        after: the ticket as stored after it.
        comment: the comment the update added, or None.

    Returns:
        The Comment event (if any), then a Change event per audited field or custom field whose value changed.
    """
    events = [comment_event(comment)] if comment else []
    events += [{"type": "Change", "field_name": name, "value": after[name], "previous_value": before[name]}
               for name in AUDITED_FIELDS if before[name] != after[name]]
    old = {field["id"]: field["value"] for field in before["custom_fields"]}
    events += [{"type": "Change", "field_name": str(field["id"]), "value": field["value"],
                "previous_value": old.get(field["id"])}
               for field in after["custom_fields"] if old.get(field["id"]) != field["value"]]
    return events


def comment_event(comment: dict[str, Any]) -> dict[str, Any]:
    """The Comment event of a comment added by a create or an update."""
    return {"type": "Comment", "author_id": comment.get("author_id"), "body": comment["body"],
            "plain_body": comment["body"], "public": comment.get("public", True), "attachments": []}


def render_audit(row: dict[str, Any], events: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Renders a stored audit as the JSON object Zendesk returns under ``audit``.

    Args:
        row: the audit row (id, ticket_id, author_id, channel, created_at).
        events: ``(event id, event)`` pairs in the order they happened.

    Returns:
        ``{id, ticket_id, created_at, author_id, metadata, via, events}``; each event carries its ``id``.
    """
    return {"id": row["id"], "ticket_id": row["ticket_id"], "created_at": row["created_at"],
            "author_id": row["author_id"], "metadata": {"system": {}, "custom": {}},
            "via": {"channel": row["channel"], "source": {"from": {}, "to": {}, "rel": None}},
            "events": [{"id": event_id, **event} for event_id, event in events]}
