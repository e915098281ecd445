"""Limits on what the store records, set once per process from the service's settings."""

from __future__ import annotations

from dataclasses import dataclass

# NATS's default max payload is 1 MiB; an event leaves room for its CloudEvents headers.
DEFAULT_MAX_EVENT_BYTES = 900_000
DEFAULT_SNAPSHOT_EVERY = 100


@dataclass(frozen=True)
class StoreLimits:
    """`max_event_bytes`: no event or outbox payload above it is ever recorded.
    `snapshot_every`: an aggregate's state is snapshotted every N events (0: never)."""

    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY


DEFAULT_LIMITS = StoreLimits()
