"""Model signatures against declared features, deployments, the challenger's traffic split,
and scores from any converter's output (ZipMap or tensor)."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from services.decision import scoring, training
from services.decision.domain.models import (
    Deployment,
    Signature,
    Stage,
    TensorSpec,
    check_signature,
    in_challenger_share,
    promote,
    score_output,
)
from services.kernel.errors import InvalidArgument

FEATURES = training.FEATURES
SHIPPED = training.DEFAULT_PATH.read_bytes()
PROBS = TensorSpec("probabilities", "tensor(float)", (-1, 2))


def one_input(columns: int, type_: str = "tensor(float)") -> Signature:
    return Signature((TensorSpec("X", type_, (-1, columns)),), (PROBS,))


def fields(error: InvalidArgument) -> list[str]:
    return [v.field for v in error.violations]


def test_one_float_input_must_have_a_column_per_feature() -> None:
    assert check_signature(one_input(4), FEATURES) == []
    assert check_signature(one_input(-1), FEATURES) == []  # open: any width
    (bad,) = check_signature(one_input(3), FEATURES)
    assert bad.field == "feature_names"
    assert "4 features" in bad.description and "3 columns" in bad.description


def test_inputs_per_feature_must_be_named_after_the_features() -> None:
    per_feature = Signature(tuple(TensorSpec(f, "tensor(float)", (-1, 1)) for f in FEATURES), ())
    assert check_signature(per_feature, FEATURES) == []
    (bad,) = check_signature(per_feature, (*FEATURES[:3], "trait_other"))
    assert bad.field == "feature_names" and "trait_orders_30d" in bad.description


def test_the_score_output_prefers_probabilities_and_takes_zipmaps() -> None:
    label = TensorSpec("label", "tensor(int64)", (-1,))
    zipmap = TensorSpec("output_probability", "seq(map(int64,tensor(float)))", ())
    assert score_output(Signature((), (label, zipmap))) == "output_probability"
    assert score_output(Signature((), (label, PROBS))) == "probabilities"
    assert score_output(Signature((), (label,))) is None


def test_the_shipped_model_has_a_zipmap_and_scores_the_positive_class() -> None:
    signature, output = scoring.inspect(SHIPPED, FEATURES)
    assert signature.outputs[-1].type == "seq(map(int64,tensor(float)))"
    model = scoring.load("v1", SHIPPED, FEATURES, signature, output)
    buyer = {"trait_orders_30d": 4.0, "consent_email_marketing": 1.0, "identifier_count": 2.0}
    idle = {"trait_days_since_visit": 90.0}
    high, low = model.score([buyer, idle])
    assert 0.0 < low < 0.5 < high < 1.0


def test_zipmap_and_tensor_outputs_of_one_model_give_the_same_scores() -> None:
    rows = [{"trait_orders_30d": float(n), "identifier_count": 1.0} for n in range(5)]
    scores = []
    for zipmap in (True, False):
        data = training.train_onnx(zipmap=zipmap)
        signature, output = scoring.inspect(data, FEATURES)
        scores.append(scoring.load("v", data, FEATURES, signature, output).score(rows))
    assert scores[0] == pytest.approx(scores[1])
    assert scores[0] == sorted(scores[0])  # more orders, more likely to convert


def test_zipmaps_keyed_by_strings_and_labels_without_one() -> None:
    assert scoring.positive_probability([{"0": 0.3, "1": 0.7}]) == [pytest.approx(0.7)]
    assert scoring.positive_probability([{"no": 0.2, "yes": 0.8}]) == [pytest.approx(0.8)]
    assert scoring.positive_probability([[0.9], [0.2]]) == [pytest.approx(0.9), pytest.approx(0.2)]


def test_the_training_script_is_reproducible_and_shipped() -> None:
    assert training.train_onnx() == SHIPPED
    assert len(SHIPPED) < 8192


def test_corrupt_bytes_are_refused_naming_the_model() -> None:
    with pytest.raises(InvalidArgument) as refused:
        scoring.inspect(SHIPPED[: len(SHIPPED) // 2], FEATURES)
    assert fields(refused.value) == ["model"]
    assert "not a loadable ONNX model" in str(refused.value)


def test_a_model_without_probabilities_is_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Cast", ["X"], ["Y"], to=TensorProto.INT64)],
        "labels-only",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.INT64, [None, 4])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    with pytest.raises(InvalidArgument) as refused:
        scoring.inspect(data.SerializeToString(), FEATURES)
    assert fields(refused.value) == ["model"]
    assert "no probability output" in str(refused.value)


def test_onnxruntime_refusals_say_why_without_its_source_location() -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])],
        "too-new",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 4])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=99)
    with pytest.raises(InvalidArgument) as refused:
        scoring.inspect(data.SerializeToString(), FEATURES)
    assert "IR version" in str(refused.value) and ".cc:" not in str(refused.value)


def test_promotions_move_one_version_and_retire_the_champion_replaced() -> None:
    d = promote(Deployment(), "v1", Stage.CHAMPION)
    d = promote(d, "v2", Stage.SHADOW)
    assert d.stage_of("v2") == Stage.SHADOW and d.serving() == ("v1", "v2")
    d = promote(d, "v2", Stage.CHALLENGER, 0.2)
    assert d.shadows == () and d.challenger == "v2" and d.challenger_share == 0.2
    d = promote(d, "v2", Stage.CHAMPION)
    assert d == Deployment(champion="v2", retired=("v1",))
    assert d.stage_of("v1") == Stage.RETIRED and d.stage_of("v9") == Stage.REGISTERED
    with pytest.raises(InvalidArgument):
        promote(d, "v1", Stage.CHAMPION)  # retired for good


def test_deployment_rules() -> None:
    assert Deployment(challenger="v2", challenger_share=0.1).violations()[0].field == "stage"
    bad = Deployment(champion="v1", challenger="v2", challenger_share=1.0).violations()
    assert [v.field for v in bad] == ["challenger_share"]
    assert Deployment(champion="v1", shadows=("v1",)).violations()[0].field == "version"


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5])
def test_the_challenger_gets_its_share_within_three_points_over_10000_profiles(
    share: float,
) -> None:
    profiles = [f"p-{n}" for n in range(10_000)]
    chosen = [in_challenger_share("acme", p, "propensity", share) for p in profiles]
    assert abs(sum(chosen) / len(profiles) - share) <= 0.03
    again = [in_challenger_share("acme", p, "propensity", share) for p in profiles]
    assert again == chosen  # stable per profile
    wider = [in_challenger_share("acme", p, "propensity", share + 0.1) for p in profiles]
    assert all(w for c, w in zip(chosen, wider, strict=True) if c)  # growing keeps its side


def test_the_split_differs_by_model_and_tenant() -> None:
    profiles = [f"p-{n}" for n in range(2000)]
    a = [in_challenger_share("acme", p, "propensity", 0.5) for p in profiles]
    b = [in_challenger_share("acme", p, "churn", 0.5) for p in profiles]
    c = [in_challenger_share("beta", p, "propensity", 0.5) for p in profiles]
    assert a != b and a != c


def test_a_model_with_one_input_per_feature_and_one_probability_column() -> None:
    """The shape torch.onnx exports give: named inputs, a sigmoid's [batch, 1] output."""
    inputs = [helper.make_tensor_value_info(f, TensorProto.FLOAT, [None, 1]) for f in FEATURES]
    weights = helper.make_tensor("w", TensorProto.FLOAT, [4, 1], [1.0, 0.0, 0.0, 0.0])
    graph = helper.make_graph(
        [
            helper.make_node("Concat", list(FEATURES), ["x"], axis=1),
            helper.make_node("MatMul", ["x", "w"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["probability"]),
        ],
        "per-feature",
        inputs,
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1])],
        initializer=[weights],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    signature, output = scoring.inspect(data.SerializeToString(), tuple(reversed(FEATURES)))
    assert output == "probability"
    model = scoring.load("v", data.SerializeToString(), FEATURES, signature, output)
    zero, high = model.score([{}, {"trait_orders_30d": 5.0, "identifier_count": 9.0}])
    assert zero == pytest.approx(0.5) and high == pytest.approx(1 / (1 + 2.718281828**-5), 1e-5)
