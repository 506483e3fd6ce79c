"""Zendesk API authentication: Basic ``<email>/token:<api_token>`` or ``Bearer <api_token>``.

The stub knows one token (``HELPDESK_API_TOKEN``); any e-mail is accepted with it, and names the agent who acts
(``/users/me``, an audit's ``author_id``). A Bearer token names no one, so it acts as ``BEARER_AGENT_EMAIL``.
"""

from __future__ import annotations

import base64
import binascii
import hmac

_TOKEN_SUFFIX = "/token"
BEARER_AGENT_EMAIL = "api-token-owner@helpdesk.invalid"


def is_authorized(header: str | None, api_token: str) -> bool:
    """Checks an ``Authorization`` header the way Zendesk does for API tokens.

    Args:
        header: the raw header value, or None when absent.
        api_token: the token the stub accepts.

    Returns:
        True for ``Basic base64("<email>/token:<api_token>")`` or ``Bearer <api_token>``;
        False for anything else (passwords, other tokens, malformed headers).
    """
    if not header:
        return False
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return _same(credentials, api_token)
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    user, colon, secret = decoded.partition(":")
    email = user[: -len(_TOKEN_SUFFIX)]
    return bool(colon) and user.endswith(_TOKEN_SUFFIX) and "@" in email and _same(secret, api_token)


def agent_email(header: str | None) -> str:
    """The e-mail address of the agent an authorized ``Authorization`` header acts as.

    Args:
        header: a header ``is_authorized`` accepted.

    Returns:
        The lower-cased ``<email>`` of ``Basic base64("<email>/token:...")``, else ``BEARER_AGENT_EMAIL``.
    """
    scheme, _, credentials = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return BEARER_AGENT_EMAIL
    user = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[0]
    return user[: -len(_TOKEN_SUFFIX)].strip().lower()


def basic_header(email: str, api_token: str) -> str:
    """Builds the Basic header value a Zendesk client sends for an API token.

    Args:
        email: the agent's e-mail address.
        api_token: the API token.

    Returns:
        ``Basic base64("<email>/token:<api_token>")``.
    """
    raw = f"{email}{_TOKEN_SUFFIX}:{api_token}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
