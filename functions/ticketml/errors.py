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
    """A bundle's arrays file holds something other than plain numeric arrays (an object
    array, which only pickle could load)."""
