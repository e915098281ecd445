"""How the Open Inference Protocol sees a registered model: datatypes, ZipMap outputs, the
version that serves, and whether a request's tensors fit the model's inputs."""

from __future__ import annotations

import pytest

from services.decision.domain.inference import (
    TensorMeta,
    check_inputs,
    choose_outputs,
    choose_version,
    served_inputs,
    served_outputs,
)
from services.decision.domain.models import Deployment, Signature, TensorSpec
from services.kernel.errors import InvalidArgument

SKLEARN_ZIPMAP = Signature(
    inputs=(TensorSpec("X", "tensor(float)", (-1, 4)),),
    outputs=(
        TensorSpec("output_label", "tensor(int64)", (-1,)),
        TensorSpec("output_probability", "seq(map(int64,tensor(float)))", ()),
    ),
)
TWO_INPUTS = Signature(
    inputs=(
        TensorSpec("age", "tensor(float)", (-1, 1)),
        TensorSpec("city", "tensor(string)", (-1, 1)),
    ),
    outputs=(
        TensorSpec("label", "tensor(string)", (-1,)),
        TensorSpec("probabilities", "tensor(float)", (-1, 2)),
        TensorSpec("trees", "seq(tensor(float))", ()),
    ),
)


def test_onnx_types_show_as_protocol_datatypes_and_zipmap_as_fp32_columns() -> None:
    assert served_inputs(SKLEARN_ZIPMAP) == [TensorMeta("X", "FP32", (-1, 4))]
    assert served_outputs(SKLEARN_ZIPMAP) == [
        TensorMeta("output_label", "INT64", (-1,)),
        TensorMeta("output_probability", "FP32", (-1, -1)),
    ]
    assert served_inputs(TWO_INPUTS)[1] == TensorMeta("city", "BYTES", (-1, 1))
    assert [m.name for m in served_outputs(TWO_INPUTS)] == ["label", "probabilities"]


def test_inputs_that_fit_pass_with_any_batch() -> None:
    given = [TensorMeta("city", "BYTES", (3, 1)), TensorMeta("age", "FP32", (3, 1))]
    assert check_inputs(TWO_INPUTS, given) == []
    assert check_inputs(SKLEARN_ZIPMAP, [TensorMeta("X", "FP32", (0, 4))]) == []


def test_wrong_datatype_shape_name_and_missing_inputs_each_named() -> None:
    given = [
        TensorMeta("age", "FP64", (2, 1)),
        TensorMeta("city", "BYTES", (2, 2)),
        TensorMeta("zip", "BYTES", (2, 1)),
        TensorMeta("age", "FP32", (2, 1)),
    ]
    bad = {v.field: v.description for v in check_inputs(TWO_INPUTS, given)}
    assert set(bad) == {"inputs[0].datatype", "inputs[1].shape", "inputs[2].name", "inputs[3].name"}
    assert "'age' is FP32 in the model, not FP64" in bad["inputs[0].datatype"]
    assert "'city' takes shape [-1, 1]" in bad["inputs[1].shape"]
    assert "no input 'zip'" in bad["inputs[2].name"] and "given twice" in bad["inputs[3].name"]
    missing = {v.field: v.description for v in check_inputs(TWO_INPUTS, given[:1])}
    assert missing["inputs"] == "input 'city' is required"
    rank = check_inputs(SKLEARN_ZIPMAP, [TensorMeta("X", "FP32", (4,))])
    assert [v.field for v in rank] == ["inputs[0].shape"]


def test_outputs_are_those_named_in_order_or_all_served() -> None:
    assert [m.name for m in choose_outputs(TWO_INPUTS, [])] == ["label", "probabilities"]
    assert [m.name for m in choose_outputs(TWO_INPUTS, ["probabilities"])] == ["probabilities"]
    for wrong in (["trees"], ["nope"], ["label", "label"]):
        with pytest.raises(InvalidArgument):
            choose_outputs(TWO_INPUTS, wrong)


def test_the_champion_serves_unless_a_version_is_named_and_retired_ones_never() -> None:
    live = Deployment(champion="v3", challenger="v4", challenger_share=0.2, retired=("v1",))
    assert choose_version(live, "").version == "v3"
    assert choose_version(live, "v4").version == "v4"
    assert choose_version(live, "v2").version == "v2"  # registered, never deployed
    assert "retired" in choose_version(live, "v1").refusal
    assert "no champion" in choose_version(Deployment(), "").refusal
