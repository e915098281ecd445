"""Models whose inputs are not floats: a string input fed by a text transform, an INT64 input
fed numbers rounded; registered against their signature, scored from the same rows training
builds, and exported with their text columns as text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from layercake.decision.v1 import decisions_pb2 as pb
from services.decision import catalog, export, feeds, scoring
from services.decision.domain.decisions import TrainingRow
from services.decision.domain.models import Signature, TensorSpec, check_signature
from services.decision.domain.transforms import (
    Cell,
    FeatureSet,
    FeatureTransform,
    TransformKind,
    as_text,
    record,
)
from services.kernel.errors import InvalidArgument
from tests.typed_model import FEATURES, propensity, typed_model

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
TRANSFORMS = FeatureSet(
    (
        FeatureTransform(
            "region", "context.location.region", TransformKind.TEXT, default_text="north"
        ),
        FeatureTransform("visits", "features.trait_visits", TransformKind.NUMERIC, default=1.0),
    )
)


def test_a_text_transform_passes_text_and_spells_numbers_and_booleans() -> None:
    def region(value: object) -> object:
        return TRANSFORMS.row(record({}, {"location": {"region": value}}, "a", 1.0, {}))["region"]

    assert TRANSFORMS.columns == FEATURES
    assert [region(v) for v in ("coast", 3.0, 2.5, True, None, {"x": 1})] == [
        "coast",
        "3",
        "2.5",
        "true",
        "north",  # missing: the default text
        "north",  # not a value text can spell
    ]
    assert as_text(float("inf")) is None and as_text(-0.0) == "0"


def test_a_text_transform_from_a_placement_and_its_limit() -> None:
    policy = pb.PlacementPolicy(
        placement_id="p",
        features=[
            pb.FeatureTransform(
                name="region",
                source="context.location.region",
                kind=pb.FEATURE_TRANSFORM_KIND_TEXT,
                default_text="x" * 257,
            )
        ],
    )
    with pytest.raises(InvalidArgument) as refused:
        catalog.placement_of(policy)
    assert [v.field for v in refused.value.violations] == ["features[0].default_text"]
    policy.features[0].default_text = "north"
    placement = catalog.placement_of(policy)
    assert placement.features == FeatureSet(TRANSFORMS.transforms[:1])


def test_int64_and_string_inputs_are_served_other_types_refused() -> None:
    typed = Signature(
        (
            TensorSpec("region", "tensor(string)", (-1, 1)),
            TensorSpec("visits", "tensor(int64)", (-1, 1)),
        ),
        (),
    )
    assert check_signature(typed, FEATURES) == []
    texts = Signature((TensorSpec("X", "tensor(string)", (-1, 2)),), ())
    assert check_signature(texts, FEATURES) == []
    (bad,) = check_signature(Signature((TensorSpec("X", "tensor(bool)", (-1, 2)),), ()), FEATURES)
    assert bad.field == "model" and "'X' is tensor(bool)" in bad.description
    assert "tensor(int64)" in bad.description and "tensor(string)" in bad.description


def test_the_typed_model_scores_the_rows_its_transforms_build() -> None:
    signature, output = scoring.inspect(typed_model(), FEATURES)
    assert [(s.name, s.type) for s in signature.inputs] == [
        ("region", "tensor(string)"),
        ("visits", "tensor(int64)"),
    ]
    model = scoring.load("v1", typed_model(), FEATURES, signature, output)
    people = [
        ({"trait_visits": 2.0}, {"location": {"region": "coast"}}),
        ({"trait_visits": 2.6}, {"location": {"region": "south"}}),  # rounded to 3 visits
        ({}, {}),  # defaults: north, 1 visit
        ({"trait_visits": 4.0}, {"location": {"region": "mars"}}),  # a region it never saw
    ]
    rows = [TRANSFORMS.row(record(f, c, "a", 1.0, {})) for f, c in people]
    expected = [("coast", 2), ("south", 3), ("north", 1), ("mars", 4)]
    assert model.score(rows) == pytest.approx([propensity(*e) for e in expected], abs=1e-6)


def test_a_feed_fills_what_a_row_lacks_or_holds_in_the_other_kind() -> None:
    inputs = (
        TensorSpec("region", "tensor(string)", (-1, 1)),
        TensorSpec("visits", "tensor(int64)", (-1,)),
    )
    rows: list[dict[str, Cell]] = [{"region": 7.0, "visits": "3"}, {"visits": "many"}, {}]
    rows += [{"visits": 1e300}, {"visits": -1e300}]
    feed = feeds.feed(inputs, FEATURES, rows)
    assert feed["region"].tolist() == [["7"], [""], [""], [""], [""]]
    assert feed["visits"].dtype == np.int64
    assert feed["visits"].tolist() == [3, 0, 0, 2**63 - 1024, -(2**63)]  # huge: the bounds
    one = (TensorSpec("X", "tensor(double)", (-1, 2)),)
    matrix = feeds.feed(one, FEATURES, [{"region": 1.5}, {"visits": "2.5"}])["X"]
    assert matrix.dtype == np.float64 and matrix.tolist() == [[1.5, 0.0], [0.0, 2.5]]


def test_the_training_table_keeps_text_columns_as_text(tmp_path: Path) -> None:
    def row(decision: str, features: dict[str, Cell]) -> TrainingRow:
        return TrainingRow(
            decision, NOW, "p-1", "welcome", "hello", 1, False, "visits", "1", 0.5, 0.5, None,
            features,
        )  # fmt: skip

    rows = [row("d-1", {"region": "coast", "visits": 3.0}), row("d-2", {"visits": 0.5})]
    out = io.StringIO()
    export.write_csv(rows, out)
    header, first, second = list(csv.reader(io.StringIO(out.getvalue())))
    assert header[-2:] == ["feature:region", "feature:visits"]
    assert (first[-2:], second[-2:]) == (["coast", "3.0"], ["", "0.5"])
    export.write_parquet(rows, tmp_path / "t.parquet")
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.schema.field("feature:region").type == pa.string()
    assert table.column("feature:region").to_pylist() == ["coast", None]
    assert table.column("feature:visits").to_pylist() == [3.0, 0.5]
