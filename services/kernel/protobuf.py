"""Small protobuf conversions every mapping module needs (time, JSON values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

M = TypeVar("M", bound=Message)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS = 1_000_000_000


def to_timestamp(value: datetime) -> Timestamp:
    """An aware time as is; a naive one as local time (as `astimezone` reads it). By
    arithmetic on the epoch: `Timestamp.FromDatetime` costs ten times more, on every event."""
    delta = (value if value.tzinfo is not None else value.astimezone(UTC)) - _EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def from_timestamp(ts: Timestamp) -> datetime:
    """An aware UTC time; ValueError for a timestamp out of range (as `ToDatetime` says)."""
    seconds, nanos = ts.seconds, ts.nanos
    if 0 <= nanos < _NANOS:
        try:
            return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
        except OverflowError:
            pass
    return ts.ToDatetime(tzinfo=UTC)  # raises the ValueError that says what is wrong


def plain_object(struct: struct_pb2.Struct) -> dict[str, object]:
    """A Struct as a plain dict, without json_format's cost on the hot path (keys, then
    each value by key: the map's `items()` view costs twice as much)."""
    fields = struct.fields
    return {k: plain_value(fields[k]) for k in fields}


def plain_value(value: struct_pb2.Value) -> object:
    """A Struct value as a plain JSON value (numbers as floats, null as None)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "list_value":
        return [plain_value(v) for v in value.list_value.values]
    if kind == "struct_value":
        return plain_object(value.struct_value)
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    return None


def as_twin(message: Message, into: type[M]) -> M:
    """`message` as `into`, a message with the same field names (the gateway's public twin
    of an internal message, or back), so no mapping lists the fields one by one."""
    document = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json_format.ParseDict(document, into())
