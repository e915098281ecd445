"""The training table: every returned action of a tenant's decisions, what the model saw
(its feature columns) and what followed (outcome, label), as CSV or Parquet.

A retrain reads it with the feature columns of the model's placement (`feature:<name>`),
so the exported rows are the rows the serving model scored.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from services.decision.domain.decisions import TrainingRow
from services.decision.domain.transforms import Cell

COLUMNS = (
    "decision_id",
    "decide_time",
    "profile_id",
    "placement",
    "action_id",
    "rank",
    "explored",
    "model_name",
    "model_version",
    "propensity",
    "score",
    "outcome",
    "label",
)


def write_csv(rows: Iterable[TrainingRow], out: TextIO) -> int:
    """Writes the rows (feature columns: the union, sorted, empty where a row lacks one);
    returns how many."""
    held = list(rows)
    features = _features(held)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *(f"feature:{f}" for f in features)])
    for r in held:
        writer.writerow(
            [
                r.decision_id,
                r.decide_time.isoformat(),
                r.profile_id,
                r.placement,
                r.action_id,
                r.rank,
                int(r.explored),
                r.model_name,
                r.model_version,
                repr(r.propensity),
                repr(r.score),
                r.outcome.name.lower() if r.outcome is not None else "",
                r.label,
                *(_cell(r.features[f]) if f in r.features else "" for f in features),
            ]
        )
    return len(held)


def write_parquet(rows: Iterable[TrainingRow], out: Path) -> int:
    """Writes the rows as one Parquet file, typed (a feature column null where a row lacks
    it; a column of text where a row holds text, as for a model's string input); returns
    how many."""
    held = list(rows)
    columns: dict[str, pa.Array] = {
        "decision_id": pa.array([r.decision_id for r in held], pa.string()),
        "decide_time": pa.array([r.decide_time for r in held], pa.timestamp("us", tz="UTC")),
        "profile_id": pa.array([r.profile_id for r in held], pa.string()),
        "placement": pa.array([r.placement for r in held], pa.string()),
        "action_id": pa.array([r.action_id for r in held], pa.string()),
        "rank": pa.array([r.rank for r in held], pa.int32()),
        "explored": pa.array([r.explored for r in held], pa.bool_()),
        "model_name": pa.array([r.model_name for r in held], pa.string()),
        "model_version": pa.array([r.model_version for r in held], pa.string()),
        "propensity": pa.array([r.propensity for r in held], pa.float64()),
        "score": pa.array([r.score for r in held], pa.float64()),
        "outcome": pa.array(
            [r.outcome.name.lower() if r.outcome is not None else None for r in held],
            pa.string(),
        ),
        "label": pa.array([r.label for r in held], pa.int8()),
    }
    assert tuple(columns) == COLUMNS, "the same columns as the CSV"
    for f in _features(held):
        values = [r.features.get(f) for r in held]
        text = any(isinstance(v, str) for v in values)
        columns[f"feature:{f}"] = (
            pa.array([None if v is None else _cell(v) for v in values], pa.string())
            if text
            else pa.array(values, pa.float64())
        )
    pq.write_table(pa.table(columns), out)
    return len(held)


def _features(rows: Sequence[TrainingRow]) -> list[str]:
    """The feature columns: the union of the rows', sorted."""
    return sorted({name for r in rows for name in r.features})


def _cell(value: Cell) -> str:
    """Text as it is; a number as Python writes it back exactly."""
    return value if isinstance(value, str) else repr(value)
