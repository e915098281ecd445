"""A model's input tensors from feature rows, in the types its inputs declare.

A row holds numbers and text (`transforms.Cell`). A float or double input takes numbers,
an INT64 input takes them rounded (within its range), a string input takes text (a number
as its shortest text, `transforms.as_text`). A missing column is 0 or "", as for training;
text in a number column is the number it spells, 0 when it spells none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from services.decision.domain.models import TEXT, TensorSpec
from services.decision.domain.transforms import Cell, as_text

Array = np.ndarray[Any, Any]
INT64_TOP = float(np.nextafter(2.0**63, 0))  # the greatest float an int64 holds
NUMBERS: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
}


def feed(
    inputs: Sequence[TensorSpec], feature_names: Sequence[str], rows: Sequence[Mapping[str, Cell]]
) -> dict[str, Array]:
    """The session's feed: one [batch, features] input, or one input per feature (named
    after it, [batch] or [batch, 1] as it declares)."""
    if len(inputs) == 1:
        return {inputs[0].name: _tensor(inputs[0].type, feature_names, rows)}
    batch = len(rows)
    return {
        spec.name: _tensor(spec.type, (spec.name,), rows).reshape(
            (batch,) if len(spec.shape) == 1 else (batch, 1)
        )
        for spec in inputs
    }


def _tensor(onnx_type: str, names: Sequence[str], rows: Sequence[Mapping[str, Cell]]) -> Array:
    shape = (len(rows), len(names))
    if onnx_type == TEXT:
        texts = [[_text(r.get(n)) for n in names] for r in rows]
        return np.array(texts, dtype=np.object_).reshape(shape)
    kind = NUMBERS[onnx_type]
    rounded = kind is np.int64
    cells = [r.get(n, 0.0) for r in rows for n in names]  # flat: fromiter reads it cheaper
    try:  # numbers, as nearly every row holds
        numbers = np.fromiter(cells, dtype=np.float64 if rounded else kind, count=len(cells))
    except (TypeError, ValueError):  # text that spells no number
        numbers = np.fromiter(map(_number, cells), dtype=np.float64, count=len(cells))
    numbers = numbers.reshape(shape)
    if rounded:  # within int64, so a huge number is the greatest rather than garbage
        bounded: Array = np.clip(np.rint(numbers), -(2.0**63), INT64_TOP)
        return bounded.astype(np.int64)
    return numbers.astype(kind, copy=False)


def _text(cell: Cell | None) -> str:
    text = as_text(cell)
    return "" if text is None else text


def _number(cell: Cell) -> float:
    if isinstance(cell, str):
        try:
            return float(cell)
        except ValueError:
            return 0.0
    return cell
