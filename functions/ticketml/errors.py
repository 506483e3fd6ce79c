"""The exception tree of ticketml: every error it raises is a TicketMLError."""


class TicketMLError(Exception):
    """Base class of every error raised by ticketml."""


class BundleError(TicketMLError):
    """A model bundle cannot be used: missing, malformed, tampered with or unsafe."""


class BundleNotFoundError(BundleError):
    """No bundle (or no published version) exists at the given path."""


class ChecksumError(BundleError):
    """An artifact's sha256 digest differs from the one recorded in its manifest."""


class UntrustedTypeError(BundleError):
    """A bundle's model file contains a type outside ticketml's allow-list."""
