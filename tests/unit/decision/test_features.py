"""Feature extraction and the decision service's reading of ProfileUpdated, without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import pytest

from services.decision import handlers, mapping
from services.decision.domain.features import (
    Value,
    features_after,
    features_folded,
    features_refilled,
)
from services.decision.domain.transforms import MAX_TEXT
from services.decision.ports import DecisionUnitOfWork
from services.kernel.errors import InvalidArgument
from services.kernel.messaging.identity_feed import profile_change
from services.kernel.profile_changes import ProfileChange, ProfilesMerge
from services.kernel.protobuf import from_timestamp
from tests.profile_events import as_envelope, profile_updated

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def change(
    version: int = 1,
    traits: Mapping[str, object] | None = None,
    consent: Mapping[str, bool] | None = None,
    identifier_count: int | None = None,
) -> ProfileChange:
    return ProfileChange("acme", "p-1", version, traits or {}, consent or {}, identifier_count)


def extract_features(first: ProfileChange) -> Mapping[str, Value]:
    """The features a first change of a profile leads to."""
    features = features_after(None, first, NOW)
    assert features is not None
    return features.values


def test_numeric_traits_become_trait_features() -> None:
    values = extract_features(change(traits={"visits": 3, "basket_total": 42.5, "age": -1}))
    assert values["trait_visits"] == 3.0
    assert values["trait_basket_total"] == 42.5
    assert values["trait_age"] == -1.0


@pytest.mark.parametrize(
    "value", [None, [1, 2], {"n": 1}, float("nan"), float("inf"), 10**400, "x" * (MAX_TEXT + 1)]
)
def test_a_trait_that_is_no_number_boolean_or_short_text_is_no_feature(value: object) -> None:
    assert "trait_x" not in extract_features(change(traits={"x": value}))


@pytest.mark.parametrize("value", ["gold", "12", "", "x" * MAX_TEXT, True, False])
def test_text_and_boolean_traits_are_kept_as_they_are(value: object) -> None:
    values = extract_features(change(traits={"x": value}))
    assert values["trait_x"] == value and type(values["trait_x"]) is type(value)


def test_a_personal_trait_sealed_by_identity_never_becomes_a_feature() -> None:
    """Identity sends personal traits sealed; the feed reads only the clear ones."""
    message = profile_updated("acme", "p-1", 1, traits={"plan": "gold"})
    message.sealed_traits["email"].sealed_json_value = b"nonce+ciphertext"
    features = features_after(None, profile_change(as_envelope(message)), NOW)
    assert features is not None
    assert dict(features.values) == {
        "trait_plan": "gold",
        "trait_count": 1.0,
        "identifier_count": 0.0,
    }


def test_consent_becomes_zero_or_one_per_purpose() -> None:
    values = extract_features(change(consent={"email_marketing": True, "advertising": False}))
    assert values["consent_email_marketing"] == 1.0
    assert values["consent_advertising"] == 0.0


def test_counts_cover_every_trait_and_identifier() -> None:
    values = extract_features(change(traits={"a": 1, "b": "text", "c": None}, identifier_count=4))
    assert values["trait_count"] == 3.0
    assert values["identifier_count"] == 4.0


def test_a_profile_with_nothing_has_zero_counts_only() -> None:
    assert extract_features(change()) == {"trait_count": 0.0, "identifier_count": 0.0}


def test_the_derived_counts_win_over_a_trait_of_the_same_feature_name() -> None:
    values = extract_features(change(traits={"count": 99}))
    assert values["trait_count"] == 1.0


def test_a_change_updates_the_features_it_touches_and_keeps_the_rest() -> None:
    first = features_after(
        None, change(1, {"visits": 1, "plan": "free"}, {"analytics": True}, 2), NOW
    )
    later = features_after(first, change(2, {"visits": "many", "basket": 5, "plan": None}), NOW)
    assert later is not None and later.profile_version == 2
    assert later.values == {
        "trait_visits": "many",  # now text
        "trait_basket": 5.0,  # new
        "consent_analytics": 1.0,  # kept
        "trait_count": 3.0,  # visits, plan, basket
        "identifier_count": 2.0,  # kept
    }  # trait_plan is gone: the trait is null


def test_an_older_change_loses_each_part_a_newer_one_set_and_a_repeat_changes_nothing() -> None:
    newest = features_after(None, change(5, {"visits": 9}, {"analytics": True}), NOW)
    late = features_after(newest, change(4, {"visits": 1, "plan": "x"}, {"analytics": False}), NOW)
    assert late is not None and late.profile_version == 5
    assert late.values["trait_visits"] == 9.0 and late.values["consent_analytics"] == 1.0
    assert late.values["trait_count"] == 2.0  # plan is news, even from an older change
    assert features_after(late, change(4, {"visits": 1, "plan": "x"}), NOW) is None


def test_feature_vector_proto_carries_every_field_and_every_feature_by_type() -> None:
    traits = {"n": 1.5, "plan": "gold", "vip": True, "churned": False, "code": "7"}
    features = features_after(None, change(2, traits=traits), NOW)
    assert features is not None
    proto = mapping.feature_vector_proto(features)
    assert (proto.tenant_id, proto.profile_id, proto.profile_version) == ("acme", "p-1", 2)
    assert dict(proto.values) == {  # numbers, booleans as 0/1 as before: old readers see these
        "trait_n": 1.5,
        "trait_vip": 1.0,
        "trait_churned": 0.0,
        "trait_count": 5.0,
        "identifier_count": 0.0,
    }
    assert dict(proto.text_values) == {"trait_plan": "gold", "trait_code": "7"}
    assert dict(proto.bool_values) == {"trait_vip": True, "trait_churned": False}
    assert from_timestamp(proto.update_time) == NOW


@pytest.mark.parametrize(
    ("tenant_id", "profile_id", "bad"),
    [
        ("", "", ["tenant_id", "profile_id"]),
        ("ACME", "p-1", ["tenant_id"]),
        ("acme", "", ["profile_id"]),
    ],
)
def test_get_features_names_each_bad_field_before_any_io(
    tenant_id: str, profile_id: str, bad: list[str]
) -> None:
    no_database = cast(DecisionUnitOfWork, None)  # validation must fail before the store is touched
    with pytest.raises(InvalidArgument) as error:
        handlers.get_features(no_database, tenant_id, profile_id)
    assert [v.field for v in error.value.violations] == bad


def test_a_merge_moves_the_features_the_survivor_lacks_into_it() -> None:
    merge = ProfilesMerge("acme", "p-1", ("p-2",), 5)
    survivor = features_after(None, change(4, traits={"visits": 3}), NOW)
    traits = {"visits": 7, "age": 40, "plan": "gold"}
    gone = ProfileChange("acme", "p-2", 9, traits, {"analytics": True}, 2)
    merged = features_after(None, gone, NOW)
    assert merged is not None
    folded = features_folded(survivor, merged, merge, NOW)
    assert folded is not None
    assert dict(folded.values) == {
        "trait_visits": 3.0,
        "trait_age": 40.0,
        "trait_plan": "gold",  # text moves like any feature
        "consent_analytics": 1.0,
        "trait_count": 3.0,
        "identifier_count": 2.0,
    }
    assert features_folded(folded, merged, merge, NOW) is None  # redelivered: a no-op


def test_computed_traits_and_audiences_become_features() -> None:
    first = ProfileChange(
        "acme", "p-1", 2, computed={"spend_30d": 12.5, "last_sku": "a"}, audiences={"buyers": True}
    )
    features = features_after(None, first, NOW)
    assert features is not None
    assert features.values["computed_spend_30d"] == 12.5
    assert features.values["computed_last_sku"] == "a"
    assert features.values["audience_buyers"] == 1.0
    left = ProfileChange("acme", "p-1", 3, audiences={"buyers": False})
    after = features_after(features, left, NOW)
    assert after is not None and after.values["audience_buyers"] == 0.0
    assert features_after(after, first, NOW) is None  # older: nothing changes


def test_a_refill_restores_only_values_stamped_at_the_changes_version_and_missing() -> None:
    tier = ProfileChange("acme", "p-1", 3, computed={"tier": "gold", "spend": 9.0, "late": None})
    held = features_after(None, tier, NOW)
    assert held is not None
    dropped = replace(held, values={k: v for k, v in held.values.items() if k != "computed_tier"})
    refilled = features_refilled(dropped, tier)
    assert refilled is not None and refilled.values == held.values
    assert refilled.field_versions == held.field_versions
    assert features_refilled(held, tier) is None  # nothing missing
    older = replace(tier, version=2, computed={"tier": "silver"})
    assert features_refilled(dropped, older) is None  # stamped at 3: not this change's value
