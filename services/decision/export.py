"""The training table: every returned action of a tenant's decisions, what the model saw
(its feature columns) and what followed (outcome, label), as CSV.

A retrain reads it with the feature columns of the model's placement (`feature:<name>`),
so the exported rows are the rows the serving model scored.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from services.decision.domain.decisions import TrainingRow

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
    features = sorted({name for r in held for name in r.features})
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
                *(repr(r.features[f]) if f in r.features else "" for f in features),
            ]
        )
    return len(held)
