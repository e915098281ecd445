"""A model whose inputs are a string and an INT64, as a pipeline that one-hot encodes a text
column itself takes them: `region` (string, [batch, 1]) and `visits` (int64, [batch, 1]).

Built with onnx.helper (ai.onnx.ml's OneHotEncoder, then a logistic regression) so the
probability is known in closed form: `propensity(region, visits)`.
"""

from __future__ import annotations

import functools
import math

from onnx import TensorProto, helper

REGIONS = ("north", "south", "coast")
WEIGHTS = {"north": -1.0, "south": 0.0, "coast": 1.0}  # an unknown region adds nothing
PER_VISIT = 0.5
FEATURES = ("region", "visits")


def propensity(region: str, visits: int) -> float:
    return 1.0 / (1.0 + math.exp(-(WEIGHTS.get(region, 0.0) + PER_VISIT * visits)))


@functools.cache
def typed_model() -> bytes:
    """probabilities: FP32 [batch, 2] (not, yes); label: INT64 [batch]."""
    weights = [WEIGHTS[r] for r in REGIONS] + [PER_VISIT]
    nodes = [
        helper.make_node(
            "OneHotEncoder",
            ["region"],
            ["onehot3"],
            domain="ai.onnx.ml",
            cats_strings=list(REGIONS),
            zeros=1,
        ),
        helper.make_node("Flatten", ["onehot3"], ["onehot"], axis=1),
        helper.make_node("Cast", ["visits"], ["visits_f"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["onehot", "visits_f"], ["x"], axis=1),
        helper.make_node("MatMul", ["x", "w"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["yes"]),
        helper.make_node("Sub", ["one", "yes"], ["not"]),
        helper.make_node("Concat", ["not", "yes"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "typed-inputs",
        [
            helper.make_tensor_value_info("region", TensorProto.STRING, [None, 1]),
            helper.make_tensor_value_info("visits", TensorProto.INT64, [None, 1]),
        ],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, [len(weights), 1], weights),
            helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        ir_version=9,
    )
    return bytes(model.SerializeToString())
