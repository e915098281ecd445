"""Subject names of the event log (DESIGN.md, "The event log")."""

from __future__ import annotations

PREFIX = "layercake"


def ingest(tenant_id: str) -> str:
    return f"{PREFIX}.{tenant_id}.ingest"


def integration(tenant_id: str, producer: str, event: str) -> str:
    """E.g. `layercake.acme.identity.profile_updated`."""
    return f"{PREFIX}.{tenant_id}.{producer}.{event}"


def dead_letter(tenant_id: str, consumer: str) -> str:
    return f"{PREFIX}.{tenant_id}.dlq.{consumer}"


def tenant_of(subject: str) -> str:
    """The tenant token of a layercake subject ('' when it is not one)."""
    parts = subject.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == PREFIX else ""


def channel_send(tenant_id: str, channel: str) -> str:
    """Send commands for a channel's adapter, e.g. `layercake.acme.channel.email.send`."""
    return f"{PREFIX}.{tenant_id}.channel.{channel}.send"


def channel_feedback(tenant_id: str, channel: str) -> str:
    """What a channel's adapter reports back about each send."""
    return f"{PREFIX}.{tenant_id}.channel.{channel}.feedback"
