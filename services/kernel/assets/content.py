"""An asset's content: its hash, and the field-by-field diff between two versions.

The hash is SHA-256 over protobuf's deterministic serialization (map entries sorted),
so equal content hashes equal. The diff walks the message descriptors: paths read like
`steps[2].wait.duration` and `labels["vip"]`; lists compare by position. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

FieldDescriptor = Any  # protobuf's Python and upb descriptors differ in type, not in use

# Compared whole: their inner fields are an encoding, not something a person edits.
ATOMS = frozenset(
    {
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.Any",
    }
)
STRUCT = "google.protobuf.Struct"


def content_hash(content: Message) -> str:
    return hashlib.sha256(content.SerializeToString(deterministic=True)).hexdigest()


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class FieldChange:
    """One difference: values are JSON-ready (messages as dicts, enums by name, bytes base64)."""

    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None


def diff(old: Message, new: Message, prefix: str = "") -> list[FieldChange]:
    """Every field that differs from `old` to `new` (same message type), in field order."""
    if old.DESCRIPTOR.full_name != new.DESCRIPTOR.full_name:
        raise ValueError(f"cannot diff {old.DESCRIPTOR.full_name} with {new.DESCRIPTOR.full_name}")
    changes: list[FieldChange] = []
    _message(old, new, prefix, changes)
    return changes


def _message(old: Message, new: Message, prefix: str, out: list[FieldChange]) -> None:
    if old.DESCRIPTOR.full_name in ATOMS:
        if old != new:
            out.append(FieldChange(prefix.rstrip("."), ChangeKind.CHANGED, _json(old), _json(new)))
        return
    if old.DESCRIPTOR.full_name == STRUCT:
        field = old.DESCRIPTOR.fields_by_name["fields"]
        _map(field, getattr(old, field.name), getattr(new, field.name), prefix.rstrip("."), out)
        return
    for field in old.DESCRIPTOR.fields:
        path = f"{prefix}{field.name}"
        a, b = getattr(old, field.name), getattr(new, field.name)
        if _is_map(field):
            _map(field, a, b, path, out)
        elif field.is_repeated:
            _list(field, a, b, path, out)
        elif field.has_presence:
            had, has = old.HasField(field.name), new.HasField(field.name)
            if had and has:
                _value(field, a, b, path, out)
            elif had:
                out.append(FieldChange(path, ChangeKind.REMOVED, _plain(field, a)))
            elif has:
                out.append(FieldChange(path, ChangeKind.ADDED, None, _plain(field, b)))
        else:
            _value(field, a, b, path, out)


def _value(field: FieldDescriptor, a: Any, b: Any, path: str, out: list[FieldChange]) -> None:
    if field.message_type is not None:
        _message(a, b, f"{path}.", out)
    elif a != b:
        out.append(FieldChange(path, ChangeKind.CHANGED, _plain(field, a), _plain(field, b)))


def _list(field: FieldDescriptor, a: Any, b: Any, path: str, out: list[FieldChange]) -> None:
    for i in range(max(len(a), len(b))):
        item = f"{path}[{i}]"
        if i >= len(b):
            out.append(FieldChange(item, ChangeKind.REMOVED, _plain(field, a[i])))
        elif i >= len(a):
            out.append(FieldChange(item, ChangeKind.ADDED, None, _plain(field, b[i])))
        else:
            _value(field, a[i], b[i], item, out)


def _map(field: FieldDescriptor, a: Any, b: Any, path: str, out: list[FieldChange]) -> None:
    value_field = field.message_type.fields_by_name["value"]
    for key in sorted(set(a) | set(b)):
        item = f"{path}[{json.dumps(key)}]"
        if key not in b:
            out.append(FieldChange(item, ChangeKind.REMOVED, _plain(value_field, a[key])))
        elif key not in a:
            out.append(FieldChange(item, ChangeKind.ADDED, None, _plain(value_field, b[key])))
        else:
            _value(value_field, a[key], b[key], item, out)


def _is_map(field: FieldDescriptor) -> bool:
    return (
        field.is_repeated
        and field.message_type is not None
        and field.message_type.GetOptions().map_entry
    )


def _plain(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None:
        return _json(value)
    if field.enum_type is not None:
        named = field.enum_type.values_by_number.get(value)
        return named.name if named is not None else value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _json(message: Message) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
