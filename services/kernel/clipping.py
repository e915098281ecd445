"""Input echoed back to a caller or into a log is clipped here, the one place that does it.

A 20 KB consent purpose echoed into an error's field path would push the status
past gRPC's metadata limit (the caller then sees RESOURCE_EXHAUSTED instead of
the error), and into a log line would flood the log.
"""

from __future__ import annotations

FIELD_BYTES = 200  # a field path in a BadRequest violation
DESCRIPTION_BYTES = 300  # a violation's description
MESSAGE_BYTES = 512  # a status message (sent percent-encoded: up to 3x on the wire)
VIOLATIONS_BYTES = 2048  # all violations of one status together
LOG_VALUE_BYTES = 2048  # a log line's message and each of its values
LOG_TRACEBACK_BYTES = 16384


def clip(text: str, limit: int) -> str:
    """`text` as is when it fits in `limit` UTF-8 bytes; else its first `limit` bytes and a
    note of how many were cut."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= limit:
        return text
    kept = encoded[:limit].decode("utf-8", "ignore")  # drops a character cut in half
    return f"{kept}…[{len(encoded) - len(kept.encode('utf-8', 'surrogatepass'))} bytes cut]"
