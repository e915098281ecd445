"""The learning loop's last step: a model retrained on the exported training table (CSV or
Parquet) takes the placement's columns, registers against them and learned what the
outcomes say; a table it cannot learn from is refused saying why."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.decision import export, scoring, training
from services.decision.domain.decisions import OutcomeKind, TrainingRow
from services.decision.domain.transforms import record

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
PLACEMENT = training.drinks_placement()
COLUMNS = PLACEMENT.features.columns


def table(rows: int, path: Path, placement: str = "drinks") -> Path:
    """The drinks example's synthetic people as the decision log exports them."""
    x, y = training.drinks_synthetic(PLACEMENT, rows=rows)
    found = [
        TrainingRow(
            decision_id=f"d-{n}",
            decide_time=NOW,
            profile_id=f"p-{n}",
            placement=placement,
            action_id="water",
            rank=1,
            explored=False,
            model_name="drinks",
            model_version="1",
            propensity=0.5,
            score=0.5,
            outcome=OutcomeKind.CONVERTED if label else None,
            features=dict(zip(COLUMNS, map(float, values), strict=True)),
        )
        for n, (values, label) in enumerate(zip(x, y, strict=True))
    ]
    if path.suffix == ".parquet":
        export.write_parquet(found, path)
    else:
        with path.open("w") as out:
            export.write_csv(found, out)
    return path


def water(temperature: float) -> dict[str, float | str]:
    context = {"weather": {"temperature_c": temperature}, "location": {"region": "coast"}}
    return PLACEMENT.features.row(record({}, context, "water", 1.0, {"product": "water"}))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_model_retrained_on_the_table_registers_and_learned_the_outcomes(
    tmp_path: Path, suffix: str
) -> None:
    path = table(800, tmp_path / f"training{suffix}")
    x, y = training.table_rows(path, PLACEMENT)
    assert x.shape == (800, len(COLUMNS)) and set(y.tolist()) == {0, 1}
    content = training.retrain(path, PLACEMENT)
    signature, output = scoring.inspect(content, COLUMNS)
    model = scoring.load("2", content, COLUMNS, signature, output)
    cold, hot = model.score([water(5.0), water(35.0)])
    assert hot > cold + 0.2  # water sells in the heat


def test_other_placements_rows_are_left_out_and_one_label_is_refused(tmp_path: Path) -> None:
    other = table(50, tmp_path / "other.csv", placement="checkout")
    assert training.table_rows(other, PLACEMENT)[0].shape == (0,)
    with pytest.raises(ValueError, match="positive and negative"):
        training.retrain(other, PLACEMENT)


def test_the_command_writes_the_new_version_or_exits_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = table(300, tmp_path / "training.parquet"), tmp_path / "drinks-2.onnx"
    monkeypatch.setattr(sys, "argv", ["training", "--from-table", str(path), "--out", str(out)])
    training.main()
    assert scoring.inspect(out.read_bytes(), COLUMNS)[1] == "probabilities"
    assert f"features: {','.join(COLUMNS)}" in capsys.readouterr().out
    empty = table(10, tmp_path / "empty.csv", placement="checkout")
    monkeypatch.setattr(sys, "argv", ["training", "--from-table", str(empty), "--out", str(out)])
    with pytest.raises(SystemExit) as refused:
        training.main()
    assert refused.value.code == 2 and "cannot retrain" in capsys.readouterr().err
