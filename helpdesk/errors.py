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
    """

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
