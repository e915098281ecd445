"""Segment's HTTP Tracking API messages <-> the gateway's ingest events.

Segment's SDKs send `identify`, `track`, `page`, `screen`, `group` and `alias` messages;
the gateway ingests `identify` and `track` events, so the others become those:

- `page` / `screen`: a track event `page_viewed` / `screen_viewed`, with the page's
  `name` and `category` among its properties;
- `group`: a track event `group_joined` with `group_id` and the group's `traits`;
- `alias`: an identify event joining `userId` with `previousId` (read as an anonymous id).

Identifiers come from `userId` (`user_id`), `anonymousId` (`anonymous_id`) and
`context.device.id` (`device_id`); identity adds the traits the tenant's identifier rules
name (`traits.email`...). Anything the rules refuse is reported with Segment's own field
names (`batch[2].userId`), by `segment_field`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from layercake.gateway.v1 import ingest_pb2
from services.kernel.errors import FieldViolation, InvalidArgument, Violations
from services.kernel.protobuf import to_timestamp
from services.kernel.vocabulary import CONSENT_PURPOSES

TYPES = ("identify", "track", "page", "screen", "group", "alias")
# Levels of JSON objects and arrays a payload may nest: deeper, its protobuf Struct passes
# the decoders' recursion limit (100 message levels), so identity could never read it.
MAX_NESTING = 32
VIEWED = {"page": "page_viewed", "screen": "screen_viewed"}
GROUP_JOINED = "group_joined"

# the ingest event's fields as Segment names them, longest first
_SEGMENT_NAMES = (
    ("identifiers.anonymous_id", "anonymousId"),
    ("identifiers.device_id", "context.device.id"),
    ("identifiers.user_id", "userId"),
    ("consent", "context.consent.categoryPreferences"),
    ("message_id", "messageId"),
)
_EVENT = re.compile(r"^events\[(\d+)\](\.|$)")


@dataclass
class Translated:
    """A request's messages as ingest events, in order; `refused` holds, by index, what the
    door found wrong before the ingest rules ran (that event is never stored)."""

    events: list[ingest_pb2.IngestEvent] = field(default_factory=list)
    refused: dict[int, tuple[FieldViolation, ...]] = field(default_factory=dict)
    sent_at: datetime | None = None


def translate_batch(body: object, receive_time: datetime) -> Translated:
    """`POST /v1/batch`: `{"batch": [...], "sentAt": ..., "context": {...}}`; the batch's
    context is each message's, under the message's own."""
    if not isinstance(body, dict):
        raise InvalidArgument.field("batch", "the body must be a JSON object with a batch array")
    messages = body.get("batch")
    if not isinstance(messages, list):
        raise InvalidArgument.field("batch", "must be an array of messages")
    bad = Violations()
    shared = body.get("context") if isinstance(body.get("context"), dict) else {}
    result = Translated(sent_at=_time(bad, "sentAt", body.get("sentAt")))
    bad.raise_if_any()
    for index, message in enumerate(messages):
        if isinstance(message, dict) and shared:
            message = message | {"context": _merged(shared, message.get("context"))}
        _add(result, index, message, None, receive_time)
    return result


def translate_one(body: object, kind: str, receive_time: datetime) -> Translated:
    """`POST /v1/<kind>`: one message, whose type is the path's."""
    if not isinstance(body, dict):
        raise InvalidArgument.field("", "the body must be a JSON object")
    bad = Violations()
    result = Translated(sent_at=_time(bad, "sentAt", body.get("sentAt")))
    bad.raise_if_any()
    _add(result, 0, body, kind, receive_time)
    return result


def segment_field(path: str, single: bool) -> str:
    """An ingest field path (`events[2].identifiers.user_id`) as Segment names it
    (`batch[2].userId`, or `userId` for a one-message request)."""
    if path == "events":
        return "batch"
    match = _EVENT.match(path)
    if match is None:
        return path
    rest = path[match.end() :]
    for ours, theirs in _SEGMENT_NAMES:
        if rest == ours or rest.startswith((f"{ours}.", f"{ours}[")):
            rest = theirs + rest[len(ours) :]
            break
    if rest == "identifiers":
        rest = "userId"
    head = "" if single else f"batch[{match.group(1)}]"
    return ".".join(p for p in (head, rest) if p)


def _add(
    result: Translated, index: int, message: object, kind: str | None, receive_time: datetime
) -> None:
    bad = Violations()
    path = f"events[{index}]"
    event = ingest_pb2.IngestEvent()
    if isinstance(message, dict):
        _fill(bad, path, event, message, kind or message.get("type"), receive_time)
    else:
        bad.add(path, "must be a JSON object")
    result.events.append(event)
    if bad.items:
        result.refused[index] = tuple(bad.items)


def _fill(
    bad: Violations,
    path: str,
    event: ingest_pb2.IngestEvent,
    message: Mapping[str, Any],
    kind: object,
    receive_time: datetime,
) -> None:
    if kind not in TYPES:
        bad.add(f"{path}.type", f"must be one of {', '.join(TYPES)}, got {str(kind)[:40]!r}")
        return
    event.message_id = _text(bad, f"{path}.messageId", message.get("messageId"))
    traits = _object(bad, f"{path}.traits", message.get("traits"))
    properties = _object(bad, f"{path}.properties", message.get("properties"))
    context = _object(bad, f"{path}.context", message.get("context"))
    when = message.get("timestamp", message.get("originalTimestamp"))
    timestamp = _time(bad, f"{path}.timestamp", when) or receive_time  # Segment's default
    event.timestamp.CopyFrom(to_timestamp(timestamp))
    identifiers = {
        "user_id": _text(bad, f"{path}.userId", message.get("userId")),
        "anonymous_id": _text(bad, f"{path}.anonymousId", message.get("anonymousId")),
        "device_id": _text(bad, f"{path}.context.device.id", _device_id(context)),
    }
    found: dict[str, str | list[str]] = {k: v for k, v in identifiers.items() if v}
    if kind == "alias":
        previous = _text(bad, f"{path}.previousId", message.get("previousId"))
        if not previous:
            bad.add(f"{path}.previousId", "is required for an alias")
        anonymous = list(dict.fromkeys(v for v in (identifiers["anonymous_id"], previous) if v))
        found["anonymous_id"] = anonymous[0] if len(anonymous) == 1 else anonymous
    event.identifiers.update(found)
    if kind in ("identify", "alias"):
        event.type = "identify"
        event.traits.update(traits)
    else:
        event.type = "track"
        event.event, extra = _track_name(bad, path, kind, message, traits)
        event.properties.update(properties | extra)
    event.context.update(context)
    event.consent.update(_consent(context))


def _track_name(
    bad: Violations, path: str, kind: object, message: Mapping[str, Any], traits: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The track event's name, and what it adds to the properties."""
    if kind == "track":
        return _text(bad, f"{path}.event", message.get("event")), {}
    if kind == "group":
        group_id = _text(bad, f"{path}.groupId", message.get("groupId"))
        if not group_id:
            bad.add(f"{path}.groupId", "is required for a group call")
        return GROUP_JOINED, {"group_id": group_id, "traits": traits}
    named = {k: _text(bad, f"{path}.{k}", message.get(k)) for k in ("name", "category")}
    return VIEWED[str(kind)], {k: v for k, v in named.items() if v}


def _text(bad: Violations, where: str, value: object) -> str:
    """A string or number as text ('' when absent); anything else is a violation."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        bad.add(where, "must be a string")
        return ""
    return str(value)


def _object(bad: Violations, where: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        bad.add(where, "must be a JSON object")
        return {}
    if _nesting(value) > MAX_NESTING:
        bad.add(where, f"nests deeper than {MAX_NESTING} levels of objects and arrays")
        return {}
    return value


def _nesting(value: object) -> int:
    """Levels of objects and arrays in `value`, counted without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            if level <= MAX_NESTING:
                pending.extend((c, level + 1) for c in children)
    return deepest


def _time(bad: Violations, where: str, value: object) -> datetime | None:
    """An ISO 8601 time (UTC when it names no offset); None when absent."""
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value)
    except ValueError:
        bad.add(where, "must be an ISO 8601 date-time, e.g. 2026-03-01T12:00:00.000Z")
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _device_id(context: Mapping[str, Any]) -> object:
    device = context.get("device")
    return device.get("id") if isinstance(device, dict) else None


def _consent(context: Mapping[str, Any]) -> dict[str, bool]:
    """Segment's consent categories that name one of the platform's purposes (`Advertising`,
    `email marketing`); a tenant's other categories are kept in the context only."""
    consent = context.get("consent")
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return {}
    named = {_purpose(str(k)): v for k, v in preferences.items()}
    return {k: v for k, v in named.items() if k in CONSENT_PURPOSES and isinstance(v, bool)}


def _purpose(category: str) -> str:
    return category.strip().lower().replace(" ", "_").replace("-", "_")


def _merged(shared: Mapping[str, Any], own: object) -> dict[str, Any]:
    return dict(shared) | (own if isinstance(own, dict) else {})
