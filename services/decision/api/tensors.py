"""Open Inference Protocol tensors <-> numpy arrays, as the protocol lays them out.

Values come in a datatype's typed `contents` field or as `raw_input_contents` (one bytes
per input, flat, row-major, little-endian; a `BYTES` element is a 4-byte little-endian
length and its bytes). An answer uses the form its request used, so a client sending raw
(as Triton's does) reads raw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from layercake.inference import grpc_predict_v2_pb2 as pb
from services.decision.domain.inference import DATATYPES, TensorMeta
from services.kernel.errors import Violations
from services.kernel.rpc.server import MAX_MESSAGE_BYTES

# datatype -> (numpy type, the typed contents field; None: raw only)
CODECS: dict[str, tuple[Any, str | None]] = {
    "BOOL": (np.bool_, "bool_contents"),
    "INT8": (np.int8, "int_contents"),
    "INT16": (np.int16, "int_contents"),
    "INT32": (np.int32, "int_contents"),
    "INT64": (np.int64, "int64_contents"),
    "UINT8": (np.uint8, "uint_contents"),
    "UINT16": (np.uint16, "uint_contents"),
    "UINT32": (np.uint32, "uint_contents"),
    "UINT64": (np.uint64, "uint64_contents"),
    "FP16": (np.float16, None),
    "FP32": (np.float32, "fp32_contents"),
    "FP64": (np.float64, "fp64_contents"),
    "BYTES": (np.object_, "bytes_contents"),
}
assert set(CODECS) == DATATYPES, "every datatype the model side names has a codec"
LENGTH = 4  # bytes of a BYTES element's length prefix
MAX_RANK = 32


@dataclass(frozen=True)
class Tensor:
    """A decoded tensor: BYTES values as Python `bytes` in an object array."""

    name: str
    datatype: str
    array: np.ndarray[Any, Any]

    @property
    def meta(self) -> TensorMeta:
        return TensorMeta(self.name, self.datatype, tuple(self.array.shape))


def decode_inputs(request: pb.ModelInferRequest) -> list[Tensor]:
    """The request's input tensors; INVALID_ARGUMENT naming each input whose datatype,
    shape or values do not agree with one another."""
    bad = Violations()
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        bad.add(
            "raw_input_contents",
            f"holds {len(raw)} tensors for {len(request.inputs)} inputs; give one per input",
        )
    if raw and any(t.HasField("contents") for t in request.inputs):
        bad.add("raw_input_contents", "cannot be given with typed contents: use one form")
    bad.raise_if_any()
    decoded: list[Tensor] = []
    for i, tensor in enumerate(request.inputs):
        try:
            decoded.append(_decode(tensor, raw[i] if raw else None))
        except _Bad as e:
            bad.add(f"inputs[{i}].{e.part}", f"input {tensor.name!r}: {e.reason}")
    bad.raise_if_any()
    return decoded


class _Bad(Exception):
    def __init__(self, part: str, reason: str) -> None:
        super().__init__(reason)
        self.part = part
        self.reason = reason


def _decode(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> Tensor:
    if not tensor.name:
        raise _Bad("name", "is required")
    if tensor.datatype not in CODECS:
        raise _Bad("datatype", f"{tensor.datatype!r} is not one of {sorted(CODECS)}")
    shape = tuple(tensor.shape)
    if any(d < 0 for d in shape):
        raise _Bad("shape", f"{list(shape)} has a negative dimension")
    if len(shape) > MAX_RANK:
        raise _Bad("shape", f"has {len(shape)} dimensions; at most {MAX_RANK} are served")
    if math.prod(d or 1 for d in shape) > MAX_MESSAGE_BYTES:  # each value takes a byte at least
        raise _Bad("shape", f"{list(shape)} holds more values than a request can carry")
    count = math.prod(shape)
    kind, field = CODECS[tensor.datatype]
    if raw is not None:
        values = _from_raw(raw, tensor.datatype, kind, count)
    else:
        if field is None:
            raise _Bad("contents", f"{tensor.datatype} values are sent as raw_input_contents")
        misplaced = [f.name for f, _ in tensor.contents.ListFields() if f.name != field]
        if misplaced:
            raise _Bad("contents", f"{tensor.datatype} values go in {field}, not {misplaced[0]}")
        items = getattr(tensor.contents, field)
        if len(items) != count:
            raise _Bad("contents", f"holds {len(items)} values; shape {list(shape)} takes {count}")
        values = _from_items(list(items), kind)
    return Tensor(tensor.name, tensor.datatype, values.reshape(shape))


def _from_items(items: list[Any], kind: Any) -> np.ndarray[Any, Any]:
    if kind is np.object_:  # BYTES: an object array, so numpy keeps each value whole
        array = np.empty(len(items), dtype=np.object_)
        array[:] = items
        return array
    return np.asarray(items, dtype=kind)


def _from_raw(raw: bytes, datatype: str, kind: Any, count: int) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return _bytes_elements(raw, count)
    size = np.dtype(kind).itemsize
    if len(raw) != count * size:
        raise _Bad(
            "shape",
            f"raw contents are {len(raw)} bytes; {count} {datatype} values take {count * size}",
        )
    return np.frombuffer(raw, dtype=np.dtype(kind).newbyteorder("<")).astype(kind)


def _bytes_elements(raw: bytes, count: int) -> np.ndarray[Any, Any]:
    elements: list[bytes] = []
    at = 0
    while at < len(raw):
        if len(elements) == count or at + LENGTH > len(raw):
            raise _Bad("shape", f"raw BYTES contents hold more than {count} elements")
        length = int.from_bytes(raw[at : at + LENGTH], "little")
        at += LENGTH
        if at + length > len(raw):
            raise _Bad("shape", f"raw BYTES element {len(elements)} runs past the contents")
        elements.append(raw[at : at + length])
        at += length
    if len(elements) != count:
        raise _Bad("shape", f"raw BYTES contents hold {len(elements)} elements, not {count}")
    array = np.empty(count, dtype=np.object_)
    array[:] = elements
    return array


def encode_outputs(response: pb.ModelInferResponse, outputs: Sequence[Tensor], raw: bool) -> None:
    """Adds the output tensors to `response`, as raw contents or typed ones."""
    for tensor in outputs:
        kind, field = CODECS[tensor.datatype]
        out = response.outputs.add(
            name=tensor.name, datatype=tensor.datatype, shape=list(tensor.array.shape)
        )
        flat = tensor.array.reshape(-1)
        if raw or field is None:
            response.raw_output_contents.append(_to_raw(flat, tensor.datatype, kind))
        elif tensor.datatype == "BYTES":
            getattr(out.contents, field).extend(_as_bytes(v) for v in flat)
        else:
            getattr(out.contents, field).extend(flat.astype(kind).tolist())


def _to_raw(flat: np.ndarray[Any, Any], datatype: str, kind: Any) -> bytes:
    if datatype == "BYTES":
        parts = [_as_bytes(v) for v in flat]
        return b"".join(len(p).to_bytes(LENGTH, "little") + p for p in parts)
    return bytes(flat.astype(np.dtype(kind).newbyteorder("<")).tobytes())


def _as_bytes(value: object) -> bytes:
    """onnxruntime gives strings; the protocol carries bytes (UTF-8)."""
    return value if isinstance(value, bytes) else str(value).encode()
