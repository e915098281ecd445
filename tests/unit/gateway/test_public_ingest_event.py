"""The gateway's public IngestEvent and the one INGEST carries are separate messages on one
wire: the gateway passes a partner's event bytes on unchanged, so every field of each must be
the other's field of the same number, name and type."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from layercake.events.v1 import ingest_pb2 as internal
from layercake.gateway.v1 import ingest_pb2 as public
from services.gateway import ingest_mapping


def shape(field: FieldDescriptor) -> tuple[object, ...]:
    """What the wire and the JSON mapping see of a field (a map entry by its own fields)."""
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        kind: object = fields(message)
    else:
        kind = message.full_name if message is not None else None
    return (field.name, field.type, field.is_repeated, kind)


def fields(message: Descriptor) -> dict[int, tuple[object, ...]]:
    return {f.number: shape(f) for f in message.fields}


def test_every_field_of_one_is_the_same_field_of_the_other() -> None:
    assert fields(public.IngestEvent.DESCRIPTOR) == fields(internal.IngestEvent.DESCRIPTOR)


def test_a_full_event_crosses_unchanged() -> None:
    document = {
        "message_id": "m-1",
        "type": "track",
        "event": "page_viewed",
        "timestamp": "2026-03-01T12:00:00Z",
        "identifiers": {"cookie_id": "ck-81", "email": ["ann@example.com", "a@example.com"]},
        "traits": {"first_name": "Ann", "nested": {"list": [1, "two", None, True]}},
        "properties": {"page": "March Madness Deals"},
        "context": {"channel": "mobile_app"},
        "consent": {"email_marketing": True, "analytics": False},
    }
    given = json_format.ParseDict(document, public.IngestEvent())
    assert {f.name for f, _ in given.ListFields()} == set(document)  # every field set
    carried = ingest_mapping.internal_event(given)
    assert json_format.MessageToDict(carried, preserving_proto_field_name=True) == document
