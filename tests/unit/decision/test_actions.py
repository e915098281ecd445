"""The screen every candidate action passes: dates, placement, channel, caps, CEL rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from layercake.decision.v1 import decisions_pb2 as pb
from services.decision import catalog
from services.decision.domain.actions import Exposures, context_weight, lever, screen
from services.kernel.errors import InvalidArgument

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def stamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def action(**fields: object) -> pb.ActionDefinition:
    base: dict[str, object] = {"action_id": "water", "value": 1.0}
    return pb.ActionDefinition(**(base | fields))  # type: ignore[arg-type]


NONE = Exposures()
ACTIVATION = {
    "features": {"trait_age": 30.0, "trait_plan": "gold", "trait_vip": True},
    "context": {"stock": {"water": 3}},
}


def reasons(definition: pb.ActionDefinition, exposures: Exposures = NONE, **kw: str) -> list[str]:
    where = {"placement": "drinks", "channel": "kiosk"} | kw
    found = catalog.action_of(definition)
    return screen(found, where["placement"], where["channel"], NOW, ACTIVATION, exposures)


def test_an_action_allowed_everywhere_passes() -> None:
    assert reasons(action()) == []


def test_each_reason_an_action_is_left_out_is_listed() -> None:
    assert reasons(action(end_time=stamp(NOW))) == ["expired: ended 2026-03-01T12:00:00+00:00"]
    later = stamp(NOW + timedelta(days=1))
    assert reasons(action(start_time=later))[0].startswith("not_started")
    assert reasons(action(placements=["home"]))[0] == "other_placement: offered at home"
    assert reasons(action(channel="email"))[0] == "other_channel: delivered on email"
    assert reasons(action(channel="email"), channel="") == []  # a request without a channel
    capped = action(max_total=5, max_per_profile=2)
    assert reasons(capped, Exposures(total=5, to_profile=1)) == [
        "capped_total: returned 5 of 5 times"
    ]
    assert reasons(capped, Exposures(total=4, to_profile=2)) == [
        "capped_per_profile: returned 2 of 2 times to this profile"
    ]


def test_an_eligibility_rule_that_fails_or_errs_leaves_the_action_out() -> None:
    assert reasons(action(eligibility="context.stock.water > 0")) == []
    assert reasons(action(eligibility="features.trait_age < 18.0")) == [
        "ineligible: features.trait_age < 18.0 (false)"
    ]
    # a profile's text and boolean traits, as the projection keeps them
    assert reasons(action(eligibility='features.trait_plan == "gold" && features.trait_vip')) == []
    assert reasons(action(eligibility='features.trait_plan in ["free"]')) == [
        'ineligible: features.trait_plan in ["free"] (false)'
    ]
    missing = reasons(action(eligibility="context.weather.temperature_c > 25.0"))
    assert missing[0].startswith("ineligible: context.weather.temperature_c > 25.0 (MISSING_FIELD")


def test_weights_and_levers_multiply_and_say_so() -> None:
    found = catalog.action_of(
        action(
            context_weights=[
                pb.ContextWeight(when="context.stock.water > 1", weight=1.5),
                pb.ContextWeight(when="features.trait_age > 50.0", weight=3.0),
            ]
        ),
        tags=("promo",),
    )
    assert context_weight(found, ACTIVATION) == (
        1.5,
        ["context weight x1.5: context.stock.water > 1"],
    )
    assert lever(found, {"promo": 1.1, "water": 2.0, "other": 9.0}) == (
        pytest.approx(2.2),
        ["lever water x2", "lever promo x1.1"],
    )


def test_a_bad_definition_names_each_field() -> None:
    bad = action(
        value=0,
        eligibility="context.stock.water >",
        end_time=stamp(NOW),
        start_time=stamp(NOW),
        context_weights=[pb.ContextWeight(when="true", weight=-1)],
    )
    with pytest.raises(InvalidArgument) as error:
        catalog.action_of(bad, "action water")
    fields = {v.field for v in error.value.violations}
    assert fields == {"value", "end_time", "context_weights[0].weight", "eligibility"}
