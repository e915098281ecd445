"""Computed traits over sliding windows: values as events arrive and as windows expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from layercake.identity.v1 import computed_traits_pb2 as pb
from services.identity.domain.computed_trait_content import definitions_from_content, violations
from services.identity.domain.computed_traits import (
    Aggregation,
    ComputedTraitDefinition,
    TrackedEvent,
)
from services.identity.domain.profile import Profile
from services.identity.domain.segments import expire, track
from services.identity.domain.windows import BUCKETS, MAX_DISTINCT, Window, bucket_width

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def definition(aggregation: Aggregation, prop: str = "properties.total") -> ComputedTraitDefinition:
    return ComputedTraitDefinition(
        "t",
        "order_completed",
        aggregation,
        timedelta(days=30),
        "" if aggregation == Aggregation.COUNT else prop,
    )


def order(total: object = 10, name: str = "order_completed") -> TrackedEvent:
    return TrackedEvent(name, {"total": total}, {"name": name, "properties": {"total": total}})


def fold(aggregation: Aggregation, values: list[tuple[int, object]], now_day: int) -> str | None:
    d = definition(aggregation)
    window, profile = Window.empty(d.window), Profile.create("acme", "p1", T0)
    for day, value in values:
        track(profile, d, window, order(value), T0 + day * DAY, T0 + day * DAY)
    expire(profile, d, window, T0 + now_day * DAY)
    return window.value(aggregation)


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        (Aggregation.COUNT, "4"),
        (Aggregation.SUM, "41.5"),
        (Aggregation.MIN, "5"),
        (Aggregation.MAX, "20"),
        (Aggregation.FIRST, "10"),
        (Aggregation.LAST, "6.5"),
        (Aggregation.DISTINCT, "4"),
    ],
)
def test_each_aggregation_over_the_window(aggregation: Aggregation, expected: str) -> None:
    # day 0: 10, day 1: 20, day 2: 5, day 3: 6.5 (all inside 30d at day 3)
    assert fold(aggregation, [(0, 10), (1, 20), (2, 5), (3, 6.5)], 3) == expected


def test_values_leave_the_window_as_it_slides() -> None:
    values = [(0, 10), (1, 20), (2, 5), (3, 6.5)]
    assert fold(Aggregation.COUNT, values, 30) == "3"  # day 0 left at exactly 30 days
    assert fold(Aggregation.MAX, values, 31) == "6.5"  # 20 (day 1) left at day 31
    assert fold(Aggregation.FIRST, values, 31) == "5"
    assert fold(Aggregation.COUNT, values, 40) == "0"
    assert fold(Aggregation.MIN, values, 40) is None  # an empty window has no minimum


def test_the_timer_is_due_when_the_oldest_event_leaves() -> None:
    d = definition(Aggregation.COUNT)
    window, profile = Window.empty(d.window), Profile.create("acme", "p1", T0)
    track(profile, d, window, order(), T0 + 2 * DAY, T0 + 2 * DAY)
    track(profile, d, window, order(), T0 + DAY, T0 + 2 * DAY)  # late, still inside
    assert window.next_expiry(d.window) == T0 + 31 * DAY
    assert not expire(profile, d, window, T0 + 31 * DAY - timedelta(seconds=1))
    assert expire(profile, d, window, T0 + 31 * DAY)
    assert profile.computed["t"].json_value == "1"
    assert profile.computed["t"].set_time == T0 + 31 * DAY
    assert window.next_expiry(d.window) == T0 + 32 * DAY


def test_an_event_already_outside_the_window_changes_nothing() -> None:
    d = definition(Aggregation.COUNT)
    window, profile = Window.empty(d.window), Profile.create("acme", "p1", T0)
    profile.saved()
    assert not track(profile, d, window, order(), T0, T0 + 30 * DAY)
    assert not profile.pending and window.next_expiry(d.window) is None


def test_events_that_do_not_count_leave_the_trait_alone() -> None:
    d = definition(Aggregation.SUM)
    window, profile = Window.empty(d.window), Profile.create("acme", "p1", T0)
    profile.saved()
    assert not track(profile, d, window, order("ten"), T0, T0)  # not a number
    assert not track(profile, d, window, order(True), T0, T0)  # a bool is no amount
    assert not track(profile, d, window, order(5, name="page_viewed"), T0, T0)
    assert not profile.pending


def test_a_when_filter_counts_only_matching_events() -> None:
    content = pb.ComputedTraits(
        traits=[
            pb.ComputedTrait(
                name="minivan_ad_views_30d",
                event="ad_viewed",
                when='event.properties.category == "minivan"',
                aggregation=pb.AGGREGATION_COUNT,
                window="30d",
            )
        ]
    )
    (d,) = definitions_from_content(content)
    window, profile = Window.empty(d.window), Profile.create("acme", "p1", T0)

    def ad(category: str) -> TrackedEvent:
        props = {"category": category}
        return TrackedEvent("ad_viewed", props, {"name": "ad_viewed", "properties": props})

    track(profile, d, window, ad("suv"), T0, T0)
    track(profile, d, window, ad("minivan"), T0, T0)
    assert profile.computed["minivan_ad_views_30d"].json_value == "1"


def test_the_same_value_again_records_nothing() -> None:
    d = definition(Aggregation.MAX)
    window, profile = Window.empty(d.window), Profile.create("acme", "p1", T0)
    track(profile, d, window, order(20), T0, T0)
    profile.saved()
    track(profile, d, window, order(3), T0 + DAY, T0 + DAY)
    assert not profile.pending


def test_state_stays_bounded_however_many_events() -> None:
    d = definition(Aggregation.DISTINCT)
    window = Window.empty(d.window)
    step = d.window / 5000
    for n in range(5000):
        window.add(T0 + n * step, n, d.aggregation, T0 + n * step, d.window)
    assert len(window.buckets) <= BUCKETS + 1
    assert window.value(d.aggregation) == str(MAX_DISTINCT)
    assert sum(b.count for b in window.buckets) == 5000
    assert bucket_width(d.window) == timedelta(seconds=30 * 86400 // BUCKETS)


def test_windows_of_merged_profiles_combine() -> None:
    d = definition(Aggregation.SUM)
    mine, theirs = Window.empty(d.window), Window.empty(d.window)
    mine.add(T0, 10, d.aggregation, T0, d.window)
    theirs.add(T0, 5, d.aggregation, T0, d.window)
    theirs.add(T0 + DAY, 1, d.aggregation, T0 + DAY, d.window)
    mine.merge(theirs)
    assert mine.value(d.aggregation) == "16"
    assert [b.key for b in mine.buckets] == sorted(b.key for b in mine.buckets)


def test_a_draft_names_each_bad_field() -> None:
    content = pb.ComputedTraits(
        traits=[
            pb.ComputedTrait(
                name="Bad Name",
                event="",
                aggregation=pb.AGGREGATION_SUM,
                property="total",
                window="30 days",
            ),
            pb.ComputedTrait(
                name="ok",
                event="e",
                aggregation=pb.AGGREGATION_COUNT,
                window="500d",
                when="event.nme == 1",
            ),
            pb.ComputedTrait(name="ok", event="e", window="1d"),
        ]
    )
    fields = {v.field for v in violations("computed_traits default", content)}
    assert fields == {
        "content.traits[0].name",
        "content.traits[0].event",
        "content.traits[0].property",
        "content.traits[0].window",
        "content.traits[1].window",
        "content.traits[1].when",
        "content.traits[2].name",
        "content.traits[2].aggregation",
    }
