"""Feature transforms: how a model's input columns are built from a profile's features,
the request's context and the candidate action.

Training (`services.decision.training`) and serving (`Decide`) build their rows with the
same `FeatureSet`, so a model never sees a column computed two ways. A profile's features
hold numbers, booleans and text (`features.trait_plan` may be "gold"): `one_hot` and `text`
read any of them as text (`as_text`), `numeric` and `bucketize` as a number (`as_number`),
and each takes its default where the feature is missing or reads as nothing. Pure.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.kernel.errors import FieldViolation, Violations

SOURCES = ("features.", "context.", "action.attributes.")
ACTION_FIELDS = ("action.id", "action.value")
MAX_CATEGORIES = 256
MAX_TRANSFORMS = 256
MAX_TEXT = 256

Cell = float | str  # a column's value: a number, or text for a model's string input


class TransformKind(StrEnum):
    NUMERIC = "numeric"
    ONE_HOT = "one_hot"
    BUCKETIZE = "bucketize"
    TEXT = "text"


@dataclass(frozen=True)
class FeatureTransform:
    """One declared transform: `source` read from the record, `kind` applied."""

    name: str
    source: str
    kind: TransformKind
    default: float = 0.0
    categories: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = ()
    default_text: str = ""

    def columns(self) -> tuple[str, ...]:
        return self._columns

    @functools.cached_property
    def _columns(self) -> tuple[str, ...]:
        if self.kind == TransformKind.ONE_HOT:
            return tuple(f"{self.name}:{c}" for c in self.categories)
        if self.kind == TransformKind.BUCKETIZE:
            return tuple(f"{self.name}:{i}" for i in range(len(self.boundaries) + 1))
        return (self.name,)

    @functools.cached_property
    def _path(self) -> tuple[str, ...]:
        return tuple(self.source.split("."))

    def apply(self, record: Mapping[str, Any], out: dict[str, Cell]) -> None:
        value = lookup(record, self._path)
        if self.kind == TransformKind.TEXT:
            text = as_text(value)
            out[self.name] = self.default_text if text is None else text
            return
        if self.kind == TransformKind.ONE_HOT:  # a category matches the value's `as_text`
            out.update(self._hot.get(as_text(value), self._cold))
            return
        number = as_number(value)
        if number is None:
            number = self.default
        if self.kind == TransformKind.BUCKETIZE:
            out.update(self._hot[bisect.bisect_right(self.boundaries, number)])
            return
        out[self.name] = number

    @functools.cached_property
    def _cold(self) -> dict[str, Cell]:
        """Every column of a one-hot or bucketised transform at 0, in column order."""
        return dict.fromkeys(self._columns, 0.0)

    @functools.cached_property
    def _hot(self) -> dict[Any, dict[str, Cell]]:
        """The columns for each category (one-hot) or bucket index (bucketize): built
        once, copied into a row, rather than a column at a time per row."""
        columns = self._columns
        keys = self.categories if self.kind == TransformKind.ONE_HOT else range(len(columns))
        return {k: {**self._cold, column: 1.0} for k, column in zip(keys, columns, strict=True)}

    def violations(self, path: str) -> list[FieldViolation]:
        bad = Violations()
        if not self.name:
            bad.add(f"{path}.name", "is required")
        if not (self.source.startswith(SOURCES) or self.source in ACTION_FIELDS):
            bad.add(
                f"{path}.source",
                "must be features.<name>, context.<path>, action.id, action.value"
                " or action.attributes.<name>",
            )
        if self.kind == TransformKind.ONE_HOT and not 0 < len(self.categories) <= MAX_CATEGORIES:
            bad.add(f"{path}.categories", f"one-hot needs 1 to {MAX_CATEGORIES} categories")
        if self.kind == TransformKind.BUCKETIZE:
            b = self.boundaries
            if not b or list(b) != sorted(set(b)) or not all(math.isfinite(x) for x in b):
                bad.add(f"{path}.boundaries", "buckets need ascending, distinct boundaries")
        if not math.isfinite(self.default):
            bad.add(f"{path}.default_value", "must be a finite number")
        if len(self.default_text) > MAX_TEXT:
            bad.add(f"{path}.default_text", f"must be at most {MAX_TEXT} characters")
        return bad.items


@dataclass(frozen=True)
class FeatureSet:
    """The transforms of a placement, in column order."""

    transforms: tuple[FeatureTransform, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for t in self.transforms for c in t.columns())

    def row(self, record: Mapping[str, Any]) -> dict[str, Cell]:
        """The model's input columns for one (profile, context, action) record."""
        out: dict[str, Cell] = {}
        for transform in self.transforms:
            transform.apply(record, out)
        return out

    def violations(self, path: str = "features") -> list[FieldViolation]:
        bad: list[FieldViolation] = []
        if len(self.transforms) > MAX_TRANSFORMS:
            bad.append(FieldViolation(path, f"must hold at most {MAX_TRANSFORMS} transforms"))
        for i, transform in enumerate(self.transforms[:MAX_TRANSFORMS]):
            bad += transform.violations(f"{path}[{i}]")
        columns = self.columns
        if len(set(columns)) != len(columns):
            bad.append(FieldViolation(path, "two transforms make a column of the same name"))
        return bad


def record(
    features: Mapping[str, Cell],
    context: Mapping[str, Any],
    action_id: str,
    value: float,
    attributes: Mapping[str, str],
) -> dict[str, Any]:
    """What a transform's `source` reads: one candidate action for one profile and request."""
    return {
        "features": features,
        "context": context,
        "action": {"id": action_id, "value": value, "attributes": attributes},
    }


def lookup(data: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    """The value at a dotted path (split at its dots), or None where any part is missing."""
    value: Any = data
    for part in parts:
        # a plain dict (nearly always) without the cost of the ABC check
        if not (type(value) is dict or isinstance(value, Mapping)) or part not in value:
            return None
        value = value[part]
    return value


def as_number(value: object) -> float | None:
    """A finite number as a float (booleans count 0/1, text the finite number it spells,
    such as a profile's `age: "42"`); anything else None."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def as_text(value: object) -> str | None:
    """Text as it is, a boolean `true`/`false`, a finite number in its shortest form (`3`,
    `2.5`); anything else None. A number column fed to a string input reads the same way."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    number = as_number(value)
    if number is None:
        return None
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
