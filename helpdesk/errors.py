"""The helpdesk stub's one exception tree; ``api.py`` maps each class to a Zendesk error body.

Store and validation code raise these; only the HTTP boundary turns them into responses.
"""

from __future__ import annotations


class HelpdeskError(Exception):
    """Base of every error the stub raises on purpose."""


class ConfigError(HelpdeskError):
    """A setting has an invalid value."""


class BadRequest(HelpdeskError):
    """The request itself is malformed (bad JSON, bad query parameter): HTTP 400.

    Attributes:
        error: Zendesk's short error code for the body's ``error`` field.
        status: the HTTP status (400 unless a subclass says otherwise).
    """

    status = 400

    def __init__(self, description: str, error: str = "BadRequest") -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class IdempotencyConflict(BadRequest):
    """An ``Idempotency-Key`` was reused with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f'Invalid Idempotency-Key: "{key}". It was already used with different request '
            "parameters; send the original body or use a new key.",
            error="IdempotentRequestError",
        )


class UnsupportedQuery(BadRequest):
    """Valid for Zendesk, but a search feature the stub does not implement: HTTP 400 naming it."""

    def __init__(self, description: str) -> None:
        super().__init__(description, error="UnsupportedSearchQuery")


class SearchLimitExceeded(BadRequest):
    """A search page past Zendesk's 1,000-result limit: HTTP 422, as Zendesk answers it."""

    status = 422

    def __init__(self, limit: int) -> None:
        super().__init__(f"Invalid search: Requested response size was greater than Search Response Limits "
                         f"(at most {limit} results per query; narrow the query, e.g. by created date).",
                         error="invalid")


class NotFound(HelpdeskError):
    """The addressed record does not exist: HTTP 404."""


class RecordInvalid(HelpdeskError):
    """One or more fields failed validation: HTTP 422 with per-field details.

    Attributes:
        details: field name -> list of messages, as in Zendesk's ``details`` object.
    """

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__("; ".join(m for msgs in details.values() for m in msgs))
        self.details = details
