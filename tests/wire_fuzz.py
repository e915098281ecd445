"""Request bytes for fuzzing any RPC, built from its descriptor alone.

Random valid messages, the same with bytes flipped or cut, invalid UTF-8 placed in
each string field, and Structs nested past protobuf's recursion limit, so a new
RPC is fuzzed without anyone writing a case for it.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import layercake

LEN = 2
STRUCT = "google.protobuf.Struct"
VALUE = "google.protobuf.Value"
MAX_DEPTH = 4
STRINGS = (
    "",
    "acme",
    "email:ann@example.com",
    "cookie_id:ck-81",
    "p-1",
    "Ann@Example.com",
    "track",
    "identify",
    "💥" * 10,
    "\x00",
    "x" * 20_000,
    "../../etc/passwd",
    "' OR 1=1 --",
)


def service_methods() -> list[MethodDescriptor]:
    """Every RPC of every service in the generated `layercake` package."""
    found: dict[str, MethodDescriptor] = {}
    for module in pkgutil.walk_packages(layercake.__path__, "layercake."):
        if not module.name.endswith("_pb2"):
            continue
        descriptor = importlib.import_module(module.name).DESCRIPTOR
        for service in descriptor.services_by_name.values():
            for method in service.methods:
                found[f"/{service.full_name}/{method.name}"] = method
    return [found[name] for name in sorted(found)]


def path_of(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | LEN) + varint(len(payload)) + payload


def deep_struct(depth: int) -> tuple[bytes, bytes]:
    """A Struct holding a Value holding a Struct ... `depth` times: (Struct, Value) bodies."""
    value = b"\x08\x00"  # Value.null_value
    struct = b""
    for _ in range(depth):
        struct = delimited(1, delimited(1, b"a") + delimited(2, value))  # fields { a: value }
        value = delimited(5, struct)  # Value.struct_value
    return struct, value


def _message_fields(descriptor: Descriptor) -> list[FieldDescriptor]:
    return [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_MESSAGE]


def field_paths(descriptor: Descriptor, depth: int = 0) -> Iterator[list[FieldDescriptor]]:
    """Paths from the request to each string field and each Struct or Value field."""
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            yield [field]
    for field in _message_fields(descriptor):
        name = field.message_type.full_name
        if name in (STRUCT, VALUE):
            yield [field]
        elif not name.startswith("google.protobuf.") and depth < MAX_DEPTH:
            for rest in field_paths(field.message_type, depth + 1):
                yield [field, *rest]


def along(path: list[FieldDescriptor], leaf: bytes) -> bytes:
    """Wire bytes setting the last field of `path` to the length-delimited `leaf`."""
    data = leaf
    for field in reversed(path):
        data = delimited(field.number, data)
    return data


def poisoned(path: list[FieldDescriptor]) -> bytes:
    """Invalid UTF-8 in a string field, or a Struct nested 200 deep in a Struct or Value field."""
    if path[-1].type == FieldDescriptor.TYPE_STRING:
        return along(path, b"\xc3\x28ok\xff")
    struct, value = deep_struct(200)
    return along(path, value if path[-1].message_type.full_name == VALUE else struct)


@dataclass
class Fuzzer:
    """Seeded, so a failing case is reproduced by its seed."""

    rng: random.Random

    def sample(self, descriptor: Descriptor, depth: int = 0) -> Message:
        """A random message of the type: some fields set, strings from a nasty list."""
        message = GetMessageClass(descriptor)()
        for field in descriptor.fields:
            if self.rng.random() < 0.3:
                continue
            repeated = field.is_repeated
            target = getattr(message, field.name)
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if depth >= MAX_DEPTH:
                    continue
                entry = field.message_type
                if entry.GetOptions().map_entry:
                    self._fill_map(target, entry, depth)
                elif repeated:
                    for _ in range(self.rng.randint(0, 3)):
                        target.add().CopyFrom(self.sample(entry, depth + 1))
                else:
                    target.CopyFrom(self.sample(entry, depth + 1))
            elif repeated:
                target.extend(self.scalar(field) for _ in range(self.rng.randint(0, 3)))
            else:
                setattr(message, field.name, self.scalar(field))
        return message

    def _fill_map(self, target: object, entry: Descriptor, depth: int) -> None:
        key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
        for _ in range(self.rng.randint(0, 3)):
            key = self.scalar(key_field)
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                value = self.sample(value_field.message_type, depth + 1)
                target[key].CopyFrom(value)  # type: ignore[index]
            else:
                target[key] = self.scalar(value_field)  # type: ignore[index]

    def scalar(self, field: FieldDescriptor) -> object:
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.rng.choice(STRINGS)
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.rng.randbytes(self.rng.randint(0, 40))
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            return self.rng.choice(field.enum_type.values).number
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice([0.0, -1.5, 1e308, float("nan"), float("inf")])
        bits = 32 if kind in _32_BIT else 64
        unsigned = kind in _UNSIGNED
        low = 0 if unsigned else -(2 ** (bits - 1))
        high = 2**bits - 1 if unsigned else 2 ** (bits - 1) - 1
        return self.rng.choice([0, 1, -1 if not unsigned else 2, low, high])

    def request_bytes(self, method: MethodDescriptor) -> tuple[str, bytes]:
        """One fuzz case for `method`: what it is, and the bytes to send."""
        descriptor = method.input_type
        valid = self.sample(descriptor).SerializeToString()
        paths = list(field_paths(descriptor))
        kind = self.rng.choice(["random", "valid", "flipped", "cut", "spliced", "poisoned"])
        if kind == "poisoned" and paths:
            return kind, poisoned(self.rng.choice(paths)) + valid
        if kind == "random":
            return kind, self.rng.randbytes(self.rng.randint(1, 64))
        if kind == "flipped" and valid:
            data = bytearray(valid)
            for _ in range(self.rng.randint(1, 4)):
                data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
            return kind, bytes(data)
        if kind == "cut" and len(valid) > 1:
            return kind, valid[: self.rng.randrange(1, len(valid))]
        if kind == "spliced":
            return kind, valid + self.rng.randbytes(self.rng.randint(1, 16))
        return "valid", valid


_32_BIT = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_SFIXED32,
}
_UNSIGNED = {
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
}
