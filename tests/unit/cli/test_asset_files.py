"""What the journey, template and facts commands read before they call: definition files,
step maps and stock levels, each refused with one line and exit code 2 when malformed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer

from layercake.gateway.v1 import asset_pb2
from services.cli.assets import Kind, _whole_numbers, read_definition
from services.cli.facts import _levels
from services.cli.journeys import _step_map


def exit_code(error: pytest.ExceptionInfo[BaseException]) -> int:
    assert isinstance(error.value, typer.Exit)
    return int(error.value.exit_code)


def test_yaml_goes_as_it_is_and_json_has_its_metadata_beside_it(tmp_path: Path) -> None:
    written = tmp_path / "j.yaml"
    written.write_text("journey: welcome\n")
    assert read_definition(written) == {"yaml": "journey: welcome\n"}
    document = tmp_path / "t.json"
    document.write_text(json.dumps({"template_id": "t", "metadata": {"owner": "growth"}}))
    source = read_definition(document)
    assert json.loads(source["json"]) == {"template_id": "t"}
    assert source["metadata"] == asset_pb2.AssetMetadata(owner="growth")


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", json.dumps({"metadata": {"colour": "red"}})],
)
def test_a_bad_json_definition_is_refused_before_any_call(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(typer.Exit) as refused:
        read_definition(path)
    assert exit_code(refused) == 2


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        read_definition(tmp_path / "nowhere.yaml")
    assert capsys.readouterr().err.count("\n") == 1


def test_step_maps_and_stock_levels_are_parsed_or_refused() -> None:
    assert _step_map(["a=b", "c=d"]) == {"a": "b", "c": "d"}
    observed = datetime(2026, 3, 1, 12, tzinfo=UTC)
    [level] = _levels("s-12", ["diet=soda=7"], observed)  # the last `=` splits
    assert (level.product, level.store, level.units) == ("diet=soda", "s-12", 7)
    assert level.observe_time.ToDatetime(tzinfo=UTC) == observed
    for bad in (lambda: _step_map(["a"]), lambda: _levels("s", ["water=lots"], None)):
        with pytest.raises(typer.Exit) as refused:
            bad()
        assert exit_code(refused) == 2


def test_every_rpc_a_kind_names_is_served() -> None:
    journey = Kind("journey")
    _, request_type = journey.rpc("RollbackJourney")
    assert "to_version" in request_type.DESCRIPTOR.fields_by_name
    with pytest.raises(AttributeError):
        Kind("offer")  # JourneysService has no ApplyOffer


def test_whole_numbers_read_as_integers() -> None:
    assert _whole_numbers({"priority": 10.0, "w": [0.5, 2.0]}) == {"priority": 10, "w": [0.5, 2]}
