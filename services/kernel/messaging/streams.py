"""The JetStream streams, created or updated idempotently at every start."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

DAY = 86400.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age: float = 0.0  # seconds; 0 keeps messages until limits say otherwise


STREAMS: tuple[StreamSpec, ...] = (
    # The one place raw personal data arrives in clear: its retention is bounded.
    StreamSpec("INGEST", ("layercake.*.ingest",), max_age=7 * DAY),
    StreamSpec("IDENTITY", ("layercake.*.identity.>",)),
    StreamSpec("ORCHESTRATOR", ("layercake.*.orchestrator.>",)),
    StreamSpec("DECISION", ("layercake.*.decision.>",)),
    # Access changes (keys revoked...) that every gateway replica's key cache follows.
    StreamSpec("GATEWAY", ("layercake.*.gateway.>",)),
    # Send commands carry an address and the rendered message in clear: bounded too.
    StreamSpec("CHANNEL", ("layercake.*.channel.*.send",), max_age=7 * DAY),
    StreamSpec("FEEDBACK", ("layercake.*.channel.*.feedback",)),
    StreamSpec("FACTS", ("layercake.*.facts.>",)),
    StreamSpec("DEADLETTER", ("layercake.*.dlq.>",), max_age=30 * DAY),
)


def stream_config(spec: StreamSpec, duplicate_window: float, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age or None,
        duplicate_window=duplicate_window,
        num_replicas=replicas,
    )


async def ensure_streams(
    js: JetStreamContext,
    specs: tuple[StreamSpec, ...] = STREAMS,
    duplicate_window: float = 120.0,
    replicas: int = 1,
) -> None:
    """Adds missing streams and brings existing ones to the wanted config."""
    for spec in specs:
        config = stream_config(spec, duplicate_window, replicas)
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": spec.name})
        else:
            await js.update_stream(config)
