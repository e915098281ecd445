"""One registry of a service's event types: the one place a new event is declared.

Each entry ties a domain event (a frozen dataclass) to its protobuf message, keyed
by the message's full name, which is also the stored `type`. A dataclass whose
fields mirror the message's (same names; str/int/bool/float/bytes, datetime as
Timestamp, `X | None` as an unset field, tuples as repeated, dicts as maps or as a
Struct, nested dataclasses as messages) maps itself; others give `encode`/`decode`.
Stored events of an older `schema_version` are upcast on the way in (`upcast`), so
the domain only ever sees the current shape.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from services.kernel.errors import UnknownEventType, Unprocessable
from services.kernel.protobuf import from_timestamp, to_timestamp
from services.kernel.store.records import NewEvent, StoredEvent

D = TypeVar("D")
C = TypeVar("C")
Upcaster = Callable[[bytes], bytes]
Convert = Callable[[Any], Any]
_SCALARS = (str, int, bool, float, bytes)


@dataclasses.dataclass(frozen=True)
class EventType(Generic[D, C]):
    """One registered event type; `version` is the schema version it writes."""

    name: str
    domain: type[D]
    message: type[Message]
    version: int
    encode: Callable[[D, C], Message]
    decode: Callable[[Message, C], D]


class EventTypes(Generic[D, C]):
    """A service's event types. `C` is what its codecs need beside the event (identity:
    the profile's sealer; `None` where nothing is needed)."""

    def __init__(self) -> None:
        self._by_name: dict[str, EventType[D, C]] = {}
        self._by_domain: dict[type[Any], EventType[D, C]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(
        self,
        message: type[Message],
        domain: type[D],
        *,
        version: int = 1,
        encode: Callable[[D, C], Message] | None = None,
        decode: Callable[[Message, C], D] | None = None,
    ) -> None:
        """Declares that `domain` is stored as `message`; without `encode`/`decode` the
        dataclass is mapped field by field (TypeError at import when it cannot be)."""
        name = message.DESCRIPTOR.full_name
        if name in self._by_name or domain in self._by_domain:
            raise ValueError(f"event type {name} ({domain.__name__}) is registered twice")
        if encode is None or decode is None:
            to_message, from_message = fields_codec(domain, message.DESCRIPTOR)  # type: ignore[arg-type]
            encode = encode or (lambda event, _c: message(**to_message(event)))
            decode = decode or (lambda m, _c: from_message(m))
        entry = EventType(name, domain, message, version, encode, decode)
        self._by_name[name] = entry
        self._by_domain[domain] = entry

    def upcast(self, message: type[Message], from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorates `fn(payload) -> payload` that turns a `from_version` payload of
        `message` into the next version's."""

        def add(fn: Upcaster) -> Upcaster:
            self._upcasters[(message.DESCRIPTOR.full_name, from_version)] = fn
            return fn

        return add

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> frozenset[str]:
        return frozenset(self._by_name)

    def new_event(self, event: D, context: C) -> NewEvent:
        """The stored form of a domain event, at its type's current schema version."""
        entry = self._by_domain.get(type(event))
        if entry is None:
            raise TypeError(f"{type(event).__name__} is not a registered event type")
        payload = entry.encode(event, context).SerializeToString()
        return NewEvent(entry.name, payload, schema_version=entry.version, domain_event=event)

    def decode(self, stored: StoredEvent, context: C) -> D:
        """The domain event of a stored one, upcast to the current shape.

        UnknownEventType (naming type and stream) for a type or version this service
        does not know; Unprocessable for a payload that does not parse. An event this
        process just appended (a projection's) is the domain event it was made from.
        """
        entry = self._by_name.get(stored.type)
        if entry is None or stored.schema_version > entry.version:
            raise UnknownEventType(stored.type, stored.stream_id, stored.schema_version)
        if isinstance(stored.domain_event, entry.domain):
            return stored.domain_event
        payload = stored.payload
        for version in range(stored.schema_version, entry.version):
            upcaster = self._upcasters.get((entry.name, version))
            if upcaster is None:
                raise UnknownEventType(stored.type, stored.stream_id, stored.schema_version)
            payload = upcaster(payload)
        try:
            message = entry.message.FromString(payload)
        except DecodeError as e:
            raise Unprocessable(
                f"event {stored.event_id} ({stored.type}) in stream {stored.stream_id}"
                " does not parse"
            ) from e
        return entry.decode(message, context)


def fields_codec(
    domain: type[Any], descriptor: Descriptor
) -> tuple[Callable[[Any], dict[str, Any]], Callable[[Message], Any]]:
    """(to message kwargs, from message) for a dataclass mirroring `descriptor`."""
    if not dataclasses.is_dataclass(domain):
        raise TypeError(f"{domain.__name__} is not a dataclass: give encode and decode")
    hints = typing.get_type_hints(domain)
    names = [f.name for f in dataclasses.fields(domain)]
    if missing := sorted(set(names) ^ set(descriptor.fields_by_name)):
        raise TypeError(
            f"{domain.__name__} and {descriptor.full_name} differ in fields {missing}:"
            " give encode and decode"
        )
    codecs = {n: _field_codec(hints[n], descriptor.fields_by_name[n], domain) for n in names}
    # scalars pass as they are, read at once (they run per event stored and loaded)
    plain = tuple(n for n, (e, d, optional) in codecs.items() if e is d is _same and not optional)
    read_plain = _reader(plain)
    others = [(n, *codec) for n, codec in codecs.items() if n not in plain]

    def to_message(event: Any) -> dict[str, Any]:
        out = dict(zip(plain, read_plain(event), strict=True))
        for name, encode, _, optional in others:
            value = getattr(event, name)
            if not (optional and value is None):
                out[name] = encode(value)
        return out

    def from_message(message: Message) -> Any:
        values = dict(zip(plain, read_plain(message), strict=True))
        for name, _, decode, optional in others:
            if optional and not message.HasField(name):
                values[name] = None
            else:
                values[name] = decode(getattr(message, name))
        return domain(**values)

    return to_message, from_message


def _reader(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The attributes `names` of an object, as a tuple."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        return lambda o: (getattr(o, names[0]),)
    return lambda _o: ()


def _field_codec(
    hint: Any, field: FieldDescriptor, owner: type[Any]
) -> tuple[Convert, Convert, bool]:
    """(encode, decode, optional) for one field."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        encode, decode = _value_codec(inner, field, owner)
        return encode, decode, True
    origin = typing.get_origin(hint)
    if origin is tuple and field.is_repeated:
        item_encode, item_decode = _value_codec(args[0], field, owner)
        return (
            lambda v: [item_encode(x) for x in v],
            lambda v: tuple(item_decode(x) for x in v),
            False,
        )
    if origin is dict and field.message_type and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        item_encode, item_decode = _value_codec(args[1], value_field, owner)
        return (
            lambda v: {k: item_encode(x) for k, x in v.items()},
            lambda v: {k: item_decode(x) for k, x in v.items()},
            False,
        )
    encode, decode = _value_codec(hint, field, owner)
    return encode, decode, False


def _value_codec(hint: Any, field: FieldDescriptor, owner: type[Any]) -> tuple[Convert, Convert]:
    if hint is datetime:
        return to_timestamp, from_timestamp
    if hint in _SCALARS and field.message_type is None:
        return _same, _same
    if typing.get_origin(hint) is dict and field.message_type is struct_pb2.Struct.DESCRIPTOR:
        return _to_struct, _from_struct
    if dataclasses.is_dataclass(hint) and field.message_type is not None:
        nested = GetMessageClass(field.message_type)
        to_message, from_message = fields_codec(hint, field.message_type)  # type: ignore[arg-type]
        return (lambda v: nested(**to_message(v))), from_message
    raise TypeError(
        f"{owner.__name__}.{field.name}: no automatic mapping for {hint!r}: give encode and decode"
    )


def _same(value: Any) -> Any:
    return value


def _from_struct(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct's JSON values; an empty one (most are) without json_format's walk."""
    return json_format.MessageToDict(message) if message.fields else {}


def _to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    """JSON values as a Struct (numbers come back as floats)."""
    message = struct_pb2.Struct()
    message.update(value)
    return message
