"""Feature transforms: numeric with defaults, one-hot, buckets; the same rows for training
and serving (the drinks model's rows come from the example placement's transforms)."""

from __future__ import annotations

import pytest

from layercake.decision.v1 import decisions_pb2 as pb
from services.decision import catalog, deciding, training
from services.decision.domain.actions import Action
from services.decision.domain.arbitration import EPSILON_GREEDY, THOMPSON_SAMPLING, Placement
from services.decision.domain.transforms import FeatureSet, FeatureTransform, TransformKind, record
from services.kernel.errors import InvalidArgument

SET = FeatureSet(
    (
        FeatureTransform("age", "features.trait_age", TransformKind.NUMERIC, default=35.0),
        FeatureTransform(
            "temp", "context.weather.t", TransformKind.BUCKETIZE, 18.0, boundaries=(10.0, 20.0)
        ),
        FeatureTransform(
            "product", "action.attributes.product", TransformKind.ONE_HOT, categories=("a", "b")
        ),
        FeatureTransform("value", "action.value", TransformKind.NUMERIC),
    )
)


def test_columns_and_a_row() -> None:
    assert SET.columns == ("age", "temp:0", "temp:1", "temp:2", "product:a", "product:b", "value")
    row = SET.row(record({"trait_age": 41.0}, {"weather": {"t": 20.0}}, "x", 2.5, {"product": "b"}))
    assert row == {
        "age": 41.0,
        "temp:0": 0.0,
        "temp:1": 0.0,
        "temp:2": 1.0,  # a boundary belongs to the bucket above it
        "product:a": 0.0,
        "product:b": 1.0,
        "value": 2.5,
    }


def test_missing_or_odd_values_take_the_defaults() -> None:
    row = SET.row(record({"trait_age": float("nan")}, {"weather": "sunny"}, "x", 1.0, {}))
    assert (row["age"], row["temp:1"], row["product:a"], row["product:b"]) == (35.0, 1.0, 0.0, 0.0)


def test_a_bad_declaration_names_its_field() -> None:
    policy = pb.PlacementPolicy(
        placement_id="p",
        epsilon=1.0,
        features=[
            pb.FeatureTransform(
                name="x", source="profile.x", kind=pb.FEATURE_TRANSFORM_KIND_NUMERIC
            ),
            pb.FeatureTransform(
                name="b",
                source="context.t",
                kind=pb.FEATURE_TRANSFORM_KIND_BUCKETIZE,
                boundaries=[3, 1],
            ),
            pb.FeatureTransform(
                name="o", source="context.c", kind=pb.FEATURE_TRANSFORM_KIND_ONE_HOT
            ),
        ],
    )
    with pytest.raises(InvalidArgument) as error:
        catalog.placement_of(policy)
    assert {v.field for v in error.value.violations} == {
        "features[0].source",
        "features[1].boundaries",
        "features[2].categories",
        "epsilon",
    }


def test_a_placement_chooses_its_exploration() -> None:
    thompson = pb.EXPLORATION_METHOD_THOMPSON_SAMPLING
    chosen = catalog.placement_of(pb.PlacementPolicy(placement_id="p", exploration=thompson))
    assert chosen.exploration == THOMPSON_SAMPLING
    assert catalog.placement_of(pb.PlacementPolicy(placement_id="p")).exploration == (
        EPSILON_GREEDY
    )
    with pytest.raises(InvalidArgument) as error:
        catalog.placement_of(
            pb.PlacementPolicy(placement_id="p", exploration=thompson, epsilon=0.1)
        )
    assert [v.field for v in error.value.violations] == ["epsilon"]


def test_training_builds_its_rows_with_the_placements_transforms() -> None:
    placement = training.drinks_placement()
    x, y = training.drinks_synthetic(placement, rows=50)
    assert x.shape == (50, len(placement.features.columns)) and set(y) <= {0, 1}
    products = x[:, placement.features.columns.index("product:water")]
    assert set(products) == {0.0, 1.0}


def test_decide_builds_each_candidates_row_as_the_feature_set_does() -> None:
    """Decide applies the transforms that do not read the action once per request: the rows
    (values and column order) must be the ones training builds candidate by candidate."""
    interleaved = FeatureSet((SET.transforms[2], SET.transforms[0], *SET.transforms[3:1:-1]))
    features = {"trait_age": 41.0, "trait_sodas_30d": 2.0}
    context = {"weather": {"temperature_c": 24.5, "t": 12.0}, "location": {"region": "coast"}}
    actions = [
        Action("water", 1.0, attributes={"product": "water"}),
        Action("diet_soda", 1.5, attributes={"product": "diet_soda"}),
        Action("b", 2.5, attributes={"product": "b"}),
    ]
    for placement in (training.drinks_placement(), Placement("p", features=interleaved)):
        rows = deciding._rows(placement, features, context, actions)
        for a in actions:
            expected = placement.features.row(
                record(features, context, a.action_id, a.value, a.attributes)
            )
            assert list(rows[a.action_id].items()) == list(expected.items())


PROFILE_TEXT = FeatureSet(
    (
        FeatureTransform(
            "plan", "features.trait_plan", TransformKind.ONE_HOT, categories=("gold", "free")
        ),
        FeatureTransform(
            "vip", "features.trait_vip", TransformKind.ONE_HOT, categories=("true", "false")
        ),
        FeatureTransform("country", "features.trait_country", TransformKind.TEXT, default_text="?"),
        FeatureTransform(
            "age", "features.trait_age", TransformKind.BUCKETIZE, 35.0, boundaries=(30.0, 50.0)
        ),
        FeatureTransform("orders", "features.computed_orders", TransformKind.NUMERIC, 1.0),
    )
)


def profile_row(features: dict[str, float | str]) -> dict[str, float | str]:
    return PROFILE_TEXT.row(record(features, {}, "x", 1.0, {}))


def test_a_profiles_text_and_boolean_traits_feed_one_hot_text_and_bucket_columns() -> None:
    row = profile_row(
        {
            "trait_plan": "gold",
            "trait_vip": True,
            "trait_country": "NL",
            "trait_age": "52",  # text that spells a number is that number
            "computed_orders": 3.0,
        }
    )
    assert row == {
        "plan:gold": 1.0,
        "plan:free": 0.0,
        "vip:true": 1.0,  # a boolean reads as `true`/`false`
        "vip:false": 0.0,
        "country": "NL",
        "age:0": 0.0,
        "age:1": 0.0,
        "age:2": 1.0,
        "orders": 3.0,
    }


def test_a_profile_without_those_traits_takes_the_defaults() -> None:
    row = profile_row({"trait_plan": "platinum", "trait_age": "old", "computed_orders": "n/a"})
    assert row == {
        "plan:gold": 0.0,  # a category not declared: every column 0
        "plan:free": 0.0,
        "vip:true": 0.0,  # missing
        "vip:false": 0.0,
        "country": "?",
        "age:0": 0.0,
        "age:1": 1.0,  # the default, 35
        "age:2": 0.0,
        "orders": 1.0,
    }


def test_a_numbers_one_hot_category_is_its_shortest_text() -> None:
    tiers = FeatureSet(
        (FeatureTransform("tier", "features.trait_tier", TransformKind.ONE_HOT, categories=("2",)),)
    )
    assert tiers.row(record({"trait_tier": 2.0}, {}, "x", 1.0, {})) == {"tier:2": 1.0}
