"""Small protobuf conversions every mapping module needs (time, JSON values)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

M = TypeVar("M", bound=Message)


def to_timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def plain_object(struct: struct_pb2.Struct) -> dict[str, object]:
    """A Struct as a plain dict, without json_format's cost on the hot path."""
    return {k: plain_value(v) for k, v in struct.fields.items()}


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
