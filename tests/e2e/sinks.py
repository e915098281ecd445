"""What the stack's local sinks received, for the e2e tests' "delivered once" checks: the
sinks keep a repeat's content once, so only their count per key (`tally`) shows it."""

from __future__ import annotations

from pathlib import Path

from services.orchestrator.channels.http_sink import read_request
from services.orchestrator.channels.tally import read_counts


def arrived_once(directory: Path) -> dict[str, int]:
    """The sink's arrivals per key, asserting none arrived twice (a second SMTP delivery or
    POST of one send would be a repeat here, though it leaves no second file)."""
    counts = read_counts(directory)
    repeated = {key: n for key, n in counts.items() if n != 1}
    assert not repeated, f"delivered more than once: {repeated}"
    return counts


def webhooks(directory: Path) -> dict[str, tuple[dict[str, str], bytes]]:
    """The HTTP sink's kept requests by file stem: headers and body bytes."""
    return {path.stem: read_request(path) for path in sorted(directory.glob("*.http"))}
