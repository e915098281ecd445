"""The rules each ingest event must meet (DESIGN.md, "The ingest event").

Each event of a batch is judged on its own, and every bad field is reported with
its path (`events[3].identifiers.email`), so a partner fixes a batch in one round
trip while its good events are kept. What passes here is what identity can apply:
an event it would refuse must be refused at the edge, not dead-lettered downstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from services.gateway.domain.contact import email_problem, phone_problem
from services.kernel.errors import FieldViolation, Violations
from services.kernel.vocabulary import CONSENT_PURPOSES, IDENTIFIER_TYPES, is_identifier_type

MAX_MESSAGE_ID = 128
MAX_EVENT_NAME = 200
MAX_IDENTIFIER_VALUE = 256
MAX_VALUES_PER_TYPE = 100

TRACK = "track"
IDENTIFY = "identify"
PAYLOADS = ("traits", "properties", "context")


@dataclass(frozen=True)
class Limits:
    """What one request, one event and one field may hold (gateway settings, which name the
    environment variable in each refusal). Defaults as Segment and RudderStack document them."""

    max_batch: int = 1000
    max_request_bytes: int = 500 * 1024
    max_event_bytes: int = 32 * 1024
    max_name_chars: int = 256
    max_value_bytes: int = 8 * 1024
    max_depth: int = 200
    max_future_skew: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(days=365)

    @property
    def json_walk_above(self) -> int:
        """Encoded bytes a payload must exceed to break a JSON bound: a name of more than
        `max_name_chars` characters, a string of more than `max_value_bytes` bytes, or more
        than `max_depth` levels (each at least two bytes) cannot fit in fewer. A payload no
        bigger is not walked."""
        return min(self.max_name_chars, self.max_value_bytes, 2 * self.max_depth)


@dataclass(frozen=True)
class IncomingEvent:
    """The parts of a partner's event the rules look at, as plain values."""

    message_id: str
    type: str
    event: str = ""
    timestamp: datetime | None = None
    identifiers: Mapping[str, object] = field(default_factory=dict)
    consent: Mapping[str, bool] = field(default_factory=dict)
    # traits, properties and context as JSON values, by those names
    payloads: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    size: int = 0  # encoded bytes
    # each payload's encoded bytes, by name; None: not known, so each is walked
    payload_sizes: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Verdict:
    """One event judged: its violations (none when it may be stored), the event time to
    store (corrected for the client's clock skew), and whether an earlier event of the
    same batch had its message id."""

    index: int
    message_id: str
    violations: tuple[FieldViolation, ...] = ()
    timestamp: datetime | None = None
    repeats_earlier: bool = False
    flags: tuple[FieldViolation, ...] = ()  # a tracking plan's, on an event it accepts

    @property
    def rejected(self) -> bool:
        return bool(self.violations)


class Status(Enum):
    """What became of one event of a request."""

    ACCEPTED = "accepted"  # durable in INGEST
    DUPLICATE = "duplicate"  # its message id was accepted within the dedupe window
    REJECTED = "rejected"  # broke a rule; not stored


@dataclass(frozen=True)
class Outcome:
    """The answer for one event: its status, stream position when accepted, and violations."""

    index: int
    message_id: str
    status: Status
    sequence: int = 0
    violations: tuple[FieldViolation, ...] = ()


def request_violations(count: int, size: int, limits: Limits) -> list[FieldViolation]:
    """What refuses a request whole: no events, too many, or too many bytes."""
    bad = Violations()
    if not 1 <= count <= limits.max_batch:
        bad.add(
            "events",
            f"must hold 1 to {limits.max_batch} events (LAYERCAKE_GATEWAY_MAX_BATCH), got {count}",
        )
    if size > limits.max_request_bytes:
        bad.add(
            "events",
            f"the request is {size} bytes; at most {limits.max_request_bytes}"
            " (LAYERCAKE_GATEWAY_MAX_REQUEST_BYTES): send smaller batches",
        )
    return bad.items


def judge(
    events: Sequence[IncomingEvent],
    limits: Limits,
    receive_time: datetime,
    sent_at: datetime | None = None,
    refused: Mapping[int, Sequence[FieldViolation]] | None = None,
) -> list[Verdict]:
    """A verdict per event, in request order; a message id seen earlier in the batch marks
    the later event as a repeat (only the first is stored). `refused` holds, by index, what
    a door translating another format found wrong first."""
    verdicts: list[Verdict] = []
    seen: set[str] = set()
    walk_above = limits.json_walk_above
    for index, event in enumerate(events):
        bad = Violations()
        if refused and index in refused:
            bad.items.extend(refused[index])
        path = f"events[{index}]"
        _check_event(bad, path, event, limits, walk_above)
        timestamp = _event_time(bad, path, event.timestamp, limits, receive_time, sent_at)
        if bad.items:
            verdicts.append(Verdict(index, event.message_id, tuple(bad.items), timestamp))
            continue
        repeat = event.message_id in seen
        seen.add(event.message_id)
        verdicts.append(Verdict(index, event.message_id, (), timestamp, repeat))
    return verdicts


def _check_event(
    bad: Violations, path: str, event: IncomingEvent, limits: Limits, walk_above: int
) -> None:
    if event.size > limits.max_event_bytes:
        bad.add(
            path,
            f"the event is {event.size} bytes; at most {limits.max_event_bytes}"
            " (LAYERCAKE_GATEWAY_MAX_EVENT_BYTES)",
        )
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
    _check_identifiers(bad, f"{path}.identifiers", event.identifiers)
    for purpose in event.consent:
        if purpose not in CONSENT_PURPOSES:
            bad.add(
                f"{path}.consent.{purpose}",
                f"unknown purpose; expected one of {', '.join(sorted(CONSENT_PURPOSES))}",
            )
    sizes = event.payload_sizes
    for name in PAYLOADS:
        if sizes is None or sizes.get(name, 0) > walk_above:
            _check_json(bad, f"{path}.{name}", event.payloads.get(name, {}), limits, 1)


def _event_time(
    bad: Violations,
    path: str,
    timestamp: datetime | None,
    limits: Limits,
    receive_time: datetime,
    sent_at: datetime | None,
) -> datetime | None:
    """The event time to store: a time too far ahead is moved back by the client's clock
    skew (`receive_time - sent_at`), as Segment does; what is still ahead, or too old, is
    refused."""
    where = f"{path}.timestamp"
    if timestamp is None:
        bad.add(where, "is required (when it happened, RFC 3339)")
        return None
    latest = receive_time + limits.max_future_skew
    if timestamp > latest and sent_at is not None:
        timestamp = receive_time - (sent_at - timestamp)
    if timestamp > latest:
        bad.add(
            where,
            f"is more than {limits.max_future_skew} ahead of the gateway's clock"
            " (LAYERCAKE_GATEWAY_MAX_FUTURE_SKEW); send sent_at to have it corrected",
        )
    elif timestamp < receive_time - limits.max_age:
        bad.add(where, f"is older than {limits.max_age} (LAYERCAKE_GATEWAY_MAX_EVENT_AGE)")
    return timestamp


def _check_json(bad: Violations, where: str, value: object, limits: Limits, depth: int) -> bool:
    """Names, string values and nesting within bounds; stops at the first bad field of an
    object, so a hostile payload costs one violation, not thousands. True when good."""
    if isinstance(value, Mapping):
        if depth > limits.max_depth:
            bad.add(where, f"nests deeper than {limits.max_depth} levels")
            return False
        for name, item in value.items():
            if len(name) > limits.max_name_chars:
                bad.add(
                    where,
                    f"holds a name of {len(name)} characters; at most {limits.max_name_chars}"
                    " (LAYERCAKE_GATEWAY_MAX_NAME_CHARS)",
                )
                return False
            if not _check_json(bad, f"{where}.{name}", item, limits, depth + 1):
                return False
    elif isinstance(value, list):
        if depth > limits.max_depth:
            bad.add(where, f"nests deeper than {limits.max_depth} levels")
            return False
        for i, item in enumerate(value):
            if not _check_json(bad, f"{where}[{i}]", item, limits, depth + 1):
                return False
    elif isinstance(value, str) and len(value) > limits.max_value_bytes // 4:
        size = len(value.encode())
        if size > limits.max_value_bytes:
            bad.add(
                where,
                f"is {size} bytes; at most {limits.max_value_bytes}"
                " (LAYERCAKE_GATEWAY_MAX_VALUE_BYTES)",
            )
            return False
    return True


def _check_identifiers(bad: Violations, path: str, identifiers: Mapping[str, object]) -> None:
    if not identifiers:
        bad.add(path, "at least one identifier is required")
        return
    for type_name, value in identifiers.items():
        if (
            type(value) is str
            and type_name in _SIMPLE
            and len(value) <= MAX_IDENTIFIER_VALUE
            and value.strip()
        ):
            continue  # the common case in a few operations: see _SIMPLE
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
    elif problem := CONTACT_CHECKS.get(type_name, _fine)(value):
        bad.add(where, problem)


def _fine(_: str) -> str:
    return ""


# identifier types whose values have a shape to check; a bad one is reported, not stored
CONTACT_CHECKS = {"email": email_problem, "phone": phone_problem}

# known identifier types whose values have no shape to check: one string value, not blank
# and not too long, is good as it is
_SIMPLE = IDENTIFIER_TYPES - CONTACT_CHECKS.keys()
