"""Feature extraction and the decision service's reading of ProfileUpdated, without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

import pytest

from services.decision import handlers, mapping
from services.decision.domain.features import ProfileUpdated, extract_features, profile_features
from services.kernel.errors import InvalidArgument
from services.kernel.protobuf import from_timestamp
from services.kernel.store.unit_of_work import UnitOfWork
from tests.profile_events import as_envelope, profile_updated

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def update(
    traits: Mapping[str, object] | None = None,
    consent: Mapping[str, bool] | None = None,
    identifier_count: int = 0,
) -> ProfileUpdated:
    return ProfileUpdated("acme", "p-1", 1, identifier_count, traits or {}, consent or {})


def test_numeric_traits_become_trait_features() -> None:
    values = extract_features(update(traits={"visits": 3, "basket_total": 42.5, "age": -1}))
    assert values["trait_visits"] == 3.0
    assert values["trait_basket_total"] == 42.5
    assert values["trait_age"] == -1.0


@pytest.mark.parametrize(
    "value", ["12", True, False, None, [1, 2], {"n": 1}, float("nan"), float("inf"), 10**400]
)
def test_a_trait_that_is_not_a_finite_number_is_no_feature(value: object) -> None:
    assert "trait_x" not in extract_features(update(traits={"x": value}))


def test_consent_becomes_zero_or_one_per_purpose() -> None:
    values = extract_features(update(consent={"email_marketing": True, "advertising": False}))
    assert values["consent_email_marketing"] == 1.0
    assert values["consent_advertising"] == 0.0


def test_counts_cover_every_trait_and_identifier() -> None:
    values = extract_features(update(traits={"a": 1, "b": "text", "c": None}, identifier_count=4))
    assert values["trait_count"] == 3.0
    assert values["identifier_count"] == 4.0


def test_a_profile_with_nothing_has_zero_counts_only() -> None:
    assert extract_features(update()) == {"trait_count": 0.0, "identifier_count": 0.0}


def test_the_derived_counts_win_over_a_trait_of_the_same_feature_name() -> None:
    values = extract_features(update(traits={"count": 99}))
    assert values["trait_count"] == 1.0


def test_profile_features_stamp_the_version_and_time() -> None:
    features = profile_features(ProfileUpdated("acme", "p-1", 7, traits={"n": 2}), NOW)
    assert (features.tenant_id, features.profile_id, features.profile_version) == ("acme", "p-1", 7)
    assert features.values["trait_n"] == 2.0
    assert features.update_time == NOW


def test_mapping_decodes_traits_and_counts_identifiers() -> None:
    message = profile_updated(
        "acme",
        "p-1",
        3,
        traits={"visits": 3, "plan": "gold"},
        raw_traits={"broken": "{not json"},
        consent={"email_marketing": True},
        identifiers=[("cookie_id", "ck-1"), ("device_id", "dv-9")],
    )
    got = mapping.profile_updated(as_envelope(message, tenant_id="acme"))
    assert got == ProfileUpdated(
        tenant_id="acme",
        profile_id="p-1",
        profile_version=3,
        identifier_count=2,
        traits={"visits": 3, "plan": "gold", "broken": None},
        consent={"email_marketing": True},
    )


def test_feature_vector_proto_carries_every_field() -> None:
    features = profile_features(ProfileUpdated("acme", "p-1", 2, traits={"n": 1.5}), NOW)
    proto = mapping.feature_vector_proto(features)
    assert (proto.tenant_id, proto.profile_id, proto.profile_version) == ("acme", "p-1", 2)
    assert dict(proto.values) == {"trait_n": 1.5, "trait_count": 1.0, "identifier_count": 0.0}
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
    no_database = cast(UnitOfWork, None)  # validation must fail before the store is touched
    with pytest.raises(InvalidArgument) as error:
        handlers.get_features(no_database, tenant_id, profile_id)
    assert [v.field for v in error.value.violations] == bad
