"""ONNX models through onnxruntime: read a model's signature, and score feature rows.

Whatever converter made the model (skl2onnx with or without ZipMap, onnxmltools,
torch.onnx), scores come out as the positive class's probability: from a float
tensor's second column, or from a ZipMap's sequence of {class: probability} maps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from services.decision import feeds
from services.decision.domain.models import (
    ModelVersion,
    Signature,
    TensorSpec,
    check_signature,
    score_output,
)
from services.decision.domain.transforms import Cell
from services.kernel.clipping import clip
from services.kernel.errors import FieldViolation, InvalidArgument

POSITIVE = (1, "1", True, "true", "yes")
# onnxruntime prefixes a message with the C++ file, line and signature: not the caller's business
SOURCE_LOCATION = re.compile(r"\S+\.(?:cc|h):\d+ [\w:~]+\([^)]*\) ")


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(name=arg.name, type=arg.type, shape=shape)


def open_session(data: bytes) -> ort.InferenceSession:
    """An inference session of one thread (replicas scale out, calls run side by side);
    INVALID_ARGUMENT naming `model` when onnxruntime cannot load the bytes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... for bad bytes
        reason = failure(e)
        raise InvalidArgument.field("model", f"is not a loadable ONNX model: {reason}") from None


def failure(error: Exception) -> str:
    """onnxruntime's message, first line only and without its C++ source location."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return clip(SOURCE_LOCATION.sub("", text), 300)


def signature_of(session: ort.InferenceSession) -> Signature:
    return Signature(
        inputs=tuple(_spec(i) for i in session.get_inputs()),
        outputs=tuple(_spec(o) for o in session.get_outputs()),
    )


def inspect(data: bytes, features: Sequence[str]) -> tuple[Signature, str]:
    """The model's signature and the output its scores come from, checked against the
    declared features; INVALID_ARGUMENT naming what does not fit."""
    signature = signature_of(open_session(data))
    bad: list[FieldViolation] = check_signature(signature, tuple(features))
    output = score_output(signature)
    if output is None:
        bad.append(FieldViolation("model", "has no probability output (float tensor or ZipMap)"))
    if bad:
        raise InvalidArgument(bad)
    assert output is not None
    return signature, output


def positive_probability(value: Any) -> list[float]:
    """Per row, the positive class's probability from a ZipMap (list of maps) or a tensor."""
    if isinstance(value, list) and all(isinstance(row, Mapping) for row in value):
        return [_from_map(row) for row in value]
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] >= 2:
        return array[:, 1].tolist()  # type: ignore[no-any-return]
    return array.reshape(array.shape[0] if array.ndim else 1, -1)[:, 0].tolist()  # type: ignore[no-any-return]


def _from_map(row: Mapping[Any, float]) -> float:
    for key in POSITIVE:
        if key in row:
            return float(row[key])
    return float(row[max(row)])  # labels without a 1: the greatest, as sklearn orders them


@dataclass(frozen=True)
class LoadedModel:
    """A model version ready to score: its session and how features map to its inputs."""

    version: str
    feature_names: tuple[str, ...]
    signature: Signature
    score_output: str
    session: ort.InferenceSession

    def score(self, rows: Sequence[Mapping[str, Cell]]) -> list[float]:
        """Blocking: call it in an executor. Missing features count as 0 (or "")."""
        feed = feeds.feed(self.signature.inputs, self.feature_names, rows)
        (value,) = self.session.run([self.score_output], feed)
        return positive_probability(value)


def checked_model(
    tenant_id: str,
    model_name: str,
    version: str,
    content: bytes,
    features: Sequence[str],
    owner: str = "",
    description: str = "",
) -> ModelVersion:
    """The record of a model file read and checked against its features (signature,
    SHA-256); INVALID_ARGUMENT naming what does not fit."""
    signature, output = inspect(content, features)
    return ModelVersion(
        tenant_id=tenant_id,
        model_name=model_name,
        version=version,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        feature_names=tuple(features),
        signature=signature,
        score_output=output,
        owner=owner,
        description=description,
    )


def load(
    version: str, data: bytes, feature_names: Sequence[str], signature: Signature, output: str
) -> LoadedModel:
    return LoadedModel(version, tuple(feature_names), signature, output, open_session(data))
