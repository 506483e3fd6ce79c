"""The emulator's exception tree.

Every error carries the HTTP status Firebase answers with; the REST layer translates them to
`{"error": message}` bodies in exactly one place (`rest._error_response`).
"""


class EmulatorError(Exception):
    """Base of every error the emulator reports to a client."""

    status = 500


class BadRequest(EmulatorError):
    """Malformed request: unparsable JSON, invalid path or key, bad query, too large or deep."""

    status = 400


class PermissionDenied(EmulatorError):
    """Rules deny the request, or the caller is not the admin for an admin-only endpoint."""

    status = 401


class NotFound(EmulatorError):
    """Unknown endpoint."""

    status = 404


class PreconditionFailed(EmulatorError):
    """An `if-match` ETag did not match the current value at the location."""

    status = 412

    def __init__(self, etag: str, value_json: str):
        super().__init__("ETag mismatch")
        self.etag = etag
        self.value_json = value_json


class DataStale(EmulatorError):
    """A compare-and-set over the WebSocket (a transaction) found another value than the one it was based on."""

    status = 412


class StorageUnavailable(EmulatorError):
    """The durable store refused a commit (disk full, read-only data dir); nothing was applied."""

    status = 503


class ConfigError(Exception):
    """Invalid configuration (firebase.json, flags, environment); raised before serving."""
