"""How the orchestrator signs every webhook it POSTs (a journey's `webhook` step and the
`webhook` channel adapter), and how a receiver checks one.

`X-Layercake-Timestamp` is the Unix time of signing in seconds; `X-Layercake-Signature` is
`v1=<hex HMAC-SHA-256(secret, "<timestamp>.<body>")>`. Signing the time with the body lets
a receiver refuse a request older than `TOLERANCE`, so a captured request cannot be
replayed later; `verify` is that check, the one a receiver runs.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE = "X-Layercake-Signature"
TIMESTAMP = "X-Layercake-Timestamp"
VERSION = "v1"
TOLERANCE = 300.0
"""Seconds a signature is good for either side of the receiver's clock."""


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """`v1=<hex>` of `<timestamp>.<body>` under the secret."""
    signed = timestamp.encode() + b"." + body
    return f"{VERSION}=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    """The two headers a POST of `body` carries, signed at `now` (Unix seconds)."""
    timestamp = str(int(now))
    return {TIMESTAMP: timestamp, SIGNATURE: signature(secret, timestamp, body)}


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str,
    signed: str,
    now: float,
    tolerance: float = TOLERANCE,
) -> bool:
    """True when `signed` is the body's signature at `timestamp` under the secret (compared
    in constant time) and `timestamp` is within `tolerance` seconds of `now`: a tampered,
    foreign, stale or replayed request is False."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signed)
