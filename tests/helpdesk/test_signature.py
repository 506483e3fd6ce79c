"""Zendesk webhook signatures: base64(HMAC-SHA256(secret, timestamp + body))."""

from __future__ import annotations

import base64
import hashlib
import hmac

from helpdesk.signature import sign, verify_signature

BODY = b'{"ticket":{"id":1},"event":"ticket.solved"}'
STAMP = "2024-05-01T12:00:00Z"


def test_signature_is_base64_hmac_of_timestamp_then_body():
    expected = base64.b64encode(hmac.new(b"s3cret", STAMP.encode() + BODY, hashlib.sha256).digest()).decode()
    assert sign("s3cret", STAMP, BODY) == expected


def test_verify_accepts_the_right_signature():
    assert verify_signature("s3cret", STAMP, BODY, sign("s3cret", STAMP, BODY))


def test_verify_rejects_tampering_and_missing_values():
    good = sign("s3cret", STAMP, BODY)
    assert not verify_signature("other", STAMP, BODY, good)
    assert not verify_signature("s3cret", "2024-05-01T12:00:01Z", BODY, good)
    assert not verify_signature("s3cret", STAMP, BODY + b" ", good)
    assert not verify_signature("s3cret", STAMP, BODY, "")
    assert not verify_signature("s3cret", STAMP, BODY, "ünïcode")
