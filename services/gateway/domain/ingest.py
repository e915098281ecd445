"""The rules an ingest batch must meet (DESIGN.md, "The ingest event").

Every event is checked before anything is published, and every bad field is
reported with its path (`events[3].identifiers.email`), so a partner fixes a
batch in one round trip. What passes here is what identity can apply: an event
it would refuse must be refused at the edge, not dead-lettered downstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.kernel.errors import FieldViolation, Violations
from services.kernel.vocabulary import CONSENT_PURPOSES, IDENTIFIER_TYPES, is_identifier_type

MAX_BATCH = 1000
MAX_MESSAGE_ID = 128
MAX_EVENT_NAME = 200
MAX_IDENTIFIER_VALUE = 256
MAX_VALUES_PER_TYPE = 100

TRACK = "track"
IDENTIFY = "identify"


@dataclass(frozen=True)
class IncomingEvent:
    """The parts of a partner's event the rules look at, as plain values."""

    message_id: str
    type: str
    event: str = ""
    timestamp: datetime | None = None
    identifiers: Mapping[str, object] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)


def batch_violations(events: Sequence[IncomingEvent]) -> list[FieldViolation]:
    """Every violation of the batch; empty when it may be published."""
    bad = Violations()
    if not 1 <= len(events) <= MAX_BATCH:
        bad.add("events", f"must hold 1 to {MAX_BATCH} events, got {len(events)}")
    for index, event in enumerate(events[:MAX_BATCH]):
        _check_event(bad, f"events[{index}]", event)
    return bad.items


def _check_event(bad: Violations, path: str, event: IncomingEvent) -> None:
    if not event.message_id:
        bad.add(f"{path}.message_id", "is required")
    elif len(event.message_id) > MAX_MESSAGE_ID:
        bad.add(f"{path}.message_id", f"must be at most {MAX_MESSAGE_ID} characters")
    if event.type == TRACK:
        if not event.event:
            bad.add(f"{path}.event", "is required for a track event")
        elif len(event.event) > MAX_EVENT_NAME:
            bad.add(f"{path}.event", f"must be at most {MAX_EVENT_NAME} characters")
    elif event.type == IDENTIFY:
        if event.event:
            bad.add(f"{path}.event", "must be empty for an identify event")
    elif not event.type:
        bad.add(f"{path}.type", "is required (track or identify)")
    else:
        bad.add(f"{path}.type", f"must be track or identify, got {event.type[:40]!r}")
    if event.timestamp is None:
        bad.add(f"{path}.timestamp", "is required (when it happened, RFC 3339)")
    _check_identifiers(bad, f"{path}.identifiers", event.identifiers)
    for purpose in event.consent:
        if purpose not in CONSENT_PURPOSES:
            bad.add(
                f"{path}.consent.{purpose}",
                f"unknown purpose; expected one of {', '.join(sorted(CONSENT_PURPOSES))}",
            )


def _check_identifiers(bad: Violations, path: str, identifiers: Mapping[str, object]) -> None:
    if not identifiers:
        bad.add(path, "at least one identifier is required")
        return
    for type_name, value in identifiers.items():
        where = f"{path}.{type_name}"
        if not is_identifier_type(type_name):
            bad.add(
                where,
                "unknown identifier type; expected one of "
                f"{', '.join(sorted(IDENTIFIER_TYPES))} or partner:<name>",
            )
            continue
        if isinstance(value, list):
            if not value:
                bad.add(where, "must hold at least one value")
            elif len(value) > MAX_VALUES_PER_TYPE:
                bad.add(where, f"must hold at most {MAX_VALUES_PER_TYPE} values")
            for i, item in enumerate(value[:MAX_VALUES_PER_TYPE]):
                _check_value(bad, f"{where}[{i}]", type_name, item)
        else:
            _check_value(bad, where, type_name, value)


def _check_value(bad: Violations, where: str, type_name: str, value: object) -> None:
    if not isinstance(value, str):
        bad.add(where, "must be a string or a list of strings")
    elif not value.strip():
        bad.add(where, "must not be empty")
    elif len(value) > MAX_IDENTIFIER_VALUE:
        bad.add(where, f"must be at most {MAX_IDENTIFIER_VALUE} characters")
    elif type_name == "phone" and not any(c.isdigit() for c in value):
        bad.add(where, "must contain digits")
