"""Zendesk-style webhook signatures: base64(HMAC-SHA256(secret, timestamp + body)).

The receiving side (functions/) re-implements ``verify_signature`` without importing this package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Computes the signature Zendesk puts in ``X-Zendesk-Webhook-Signature``.

    Args:
        secret: the webhook's signing secret.
        timestamp: the exact string sent in ``X-Zendesk-Webhook-Signature-Timestamp``
            (ISO-8601 UTC, e.g. ``2024-05-01T12:00:00Z``).
        body: the raw request body bytes, exactly as sent.

    Returns:
        The base64-encoded HMAC-SHA256 digest of ``timestamp + body``.
    """
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Checks a webhook signature in constant time.

    Args:
        secret: the webhook's signing secret.
        timestamp: the value of ``X-Zendesk-Webhook-Signature-Timestamp``.
        body: the raw request body bytes (not re-serialised JSON).
        signature: the value of ``X-Zendesk-Webhook-Signature``.

    Returns:
        True when the signature matches; False otherwise, including for a missing value.
    """
    if not signature or timestamp is None:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))
