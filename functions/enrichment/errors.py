"""The function's exception tree: transient failures are retried by delivery, permanent ones recorded."""


class EnrichmentError(Exception):
    """Base of the function's errors."""


class TransientError(EnrichmentError):
    """Worth retrying: the database or helpdesk is unreachable, timed out, or answered 5xx/429.

    Raised out of the handler, so the function answers 500 and the event is delivered again.
    """


class PermanentError(EnrichmentError):
    """Retrying cannot help (the helpdesk refused the ticket); recorded on the ticket instead."""


class MalformedEvent(EnrichmentError, ValueError):
    """The event itself is not what a database trigger sends; answered 400 (see functions/main.py)."""
