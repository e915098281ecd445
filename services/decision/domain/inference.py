"""The Open Inference Protocol's view of a registered model: which tensors it shows, in
which datatypes, and whether a request's tensors fit them. Pure: names, types, shapes.

A model's ONNX types map to the protocol's datatypes (`tensor(float)` is `FP32`,
`tensor(string)` is `BYTES`, ...). A ZipMap output (`seq(map(...))`, skl2onnx's default)
is shown as an `FP32` tensor of `[batch, classes]`, columns in the model's class order;
other non-tensor outputs are not served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.decision.domain.models import Deployment, Signature, TensorSpec
from services.kernel.errors import FieldViolation, Violations

PLATFORM = "onnxruntime_onnx"  # Triton's name for ONNX models run by onnxruntime

ONNX_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
DATATYPES = frozenset(ONNX_DATATYPES.values())


def is_zipmap(onnx_type: str) -> bool:
    return onnx_type.startswith("seq(map(")


@dataclass(frozen=True)
class TensorMeta:
    """A tensor as the protocol describes it: -1 for a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]


def tensor_meta(spec: TensorSpec) -> TensorMeta | None:
    """How the protocol shows one of the model's inputs or outputs; None when it cannot."""
    if is_zipmap(spec.type):
        return TensorMeta(spec.name, "FP32", (-1, -1))
    datatype = ONNX_DATATYPES.get(spec.type)
    return None if datatype is None else TensorMeta(spec.name, datatype, spec.shape)


def served_inputs(signature: Signature) -> list[TensorMeta]:
    return [m for m in map(tensor_meta, signature.inputs) if m is not None]


def served_outputs(signature: Signature) -> list[TensorMeta]:
    return [m for m in map(tensor_meta, signature.outputs) if m is not None]


def check_inputs(signature: Signature, given: Sequence[TensorMeta]) -> list[FieldViolation]:
    """Why the request's input tensors do not fit the model: each named input given once,
    in the model's datatype, with its rank and its fixed dimensions."""
    bad = Violations()
    expected = {m.name: m for m in served_inputs(signature)}
    seen: set[str] = set()
    for i, tensor in enumerate(given):
        want = expected.get(tensor.name)
        if tensor.name in seen:
            bad.add(f"inputs[{i}].name", f"input {tensor.name!r} is given twice")
        elif want is None:
            bad.add(
                f"inputs[{i}].name",
                f"the model has no input {tensor.name!r}; its inputs are {sorted(expected)}",
            )
        else:
            seen.add(tensor.name)
            if tensor.datatype != want.datatype:
                bad.add(
                    f"inputs[{i}].datatype",
                    f"input {tensor.name!r} is {want.datatype} in the model, not {tensor.datatype}",
                )
            if not fits(tensor.shape, want.shape):
                bad.add(
                    f"inputs[{i}].shape",
                    f"input {tensor.name!r} takes shape {list(want.shape)} (-1: any size),"
                    f" not {list(tensor.shape)}",
                )
    for name in sorted(set(expected) - seen):
        bad.add("inputs", f"input {name!r} is required")
    return bad.items


def fits(shape: Sequence[int], declared: Sequence[int]) -> bool:
    """Same rank, and equal where the model fixes a dimension."""
    return len(shape) == len(declared) and all(
        d < 0 or d == s for s, d in zip(shape, declared, strict=True)
    )


def choose_outputs(signature: Signature, requested: Sequence[str]) -> list[TensorMeta]:
    """The outputs to answer: those requested (in that order), else every one served."""
    served = {m.name: m for m in served_outputs(signature)}
    if not requested:
        return list(served.values())
    bad = Violations()
    for i, name in enumerate(requested):
        if name not in served:
            bad.add(
                f"outputs[{i}].name",
                f"the model has no output {name!r}; its outputs are {sorted(served)}",
            )
    if len(set(requested)) != len(requested):
        bad.add("outputs", "must not name an output twice")
    bad.raise_if_any()
    return [served[name] for name in requested]


@dataclass(frozen=True)
class Choice:
    """The version a request is served by, or why none is: `""` with a `refusal`."""

    version: str
    refusal: str = ""


def choose_version(deployment: Deployment, requested: str) -> Choice:
    """The requested version, unless it is retired; without one, the champion."""
    if not requested:
        if deployment.champion:
            return Choice(deployment.champion)
        return Choice("", "has no champion to serve; name a version")
    if requested in deployment.retired:
        return Choice("", f"version {requested!r} is retired and never serves again")
    return Choice(requested)
