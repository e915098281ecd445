"""Runs across journey versions, pauses, merges and forgets; and the time-zone wait."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.kernel.errors import FailedPrecondition, NotFound
from services.kernel.timers import Timer
from services.orchestrator.domain.instances.local_time import next_local_time
from services.orchestrator.domain.instances.steps import run_timer_id
from tests.unit.orchestrator.journey_harness import EXAMPLES, TENANT, Journeys, RecordingWebhooks

CART = (EXAMPLES / "abandoned-cart.yaml").read_text()
CART_V2 = CART.replace("timeout: 4h", "timeout: 1h").replace("cart-reminder}", "cart-reminder-2}")


async def test_runs_keep_the_version_they_entered_with() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-1", "cart_updated", {"total": 42.0})
    j.publish(CART_V2, version=2)
    j.event("p-2", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=2))
    assert j.sent_templates() == [("p-2", "cart-reminder-2")]
    await j.advance(timedelta(hours=2))
    assert j.sent_templates() == [("p-2", "cart-reminder-2"), ("p-1", "cart-reminder")]
    assert (
        j.instance(journey, "p-1").journey_version,
        j.instance(journey, "p-2").journey_version,
    ) == (1, 2)
    stats = j.stats(journey)
    assert stats[(1, "remind", "sent")] == stats[(2, "remind", "sent")] == 1


async def test_a_paused_journey_takes_no_one_in_and_holds_its_waits() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-1", "cart_updated", {"total": 42.0})
    j.publish(CART, paused=True)
    j.event("p-2", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=6))
    assert j.send.requests == [] and j.instance(journey, "p-2").run == 0
    wait = j.instance(journey, "p-1").wait
    assert wait is not None and wait.reason == "paused"
    j.publish(CART)  # resumed
    await j.advance(timedelta(minutes=1))
    assert j.sent_templates() == [("p-1", "cart-reminder")]


async def test_an_archived_journeys_runs_end_when_their_wait_does() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-1", "cart_updated", {"total": 42.0})
    del j.db.state.live[(TENANT, journey)]  # archived: no live version any more
    await j.advance(timedelta(hours=5))
    assert j.send.requests == [] and j.instance(journey, "p-1").exit_reason == "archived"


async def test_two_profiles_inside_a_journey_merge_into_one_run_and_one_send() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-old", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=1))
    j.event("p-new", "cart_updated", {"total": 42.0})
    j.merge("p-old", "p-new")
    await j.advance(timedelta(hours=8))
    assert j.sent_templates() == [("p-old", "cart-reminder")]
    merged = j.instance(journey, "p-new")
    assert (merged.active, merged.exit_reason) == (False, "merged")
    assert j.instance(journey, "p-old").exit_reason == "completed"


async def test_a_merge_after_one_run_sent_sends_no_second_reminder() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-old", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=1))
    j.event("p-new", "cart_updated", {"total": 42.0})
    await j.advance(timedelta(hours=3, minutes=30))  # p-old's reminder went out
    assert j.sent_templates() == [("p-old", "cart-reminder")]
    j.merge("p-old", "p-new")
    await j.advance(timedelta(hours=4))
    assert j.sent_templates() == [("p-old", "cart-reminder")]
    assert j.stats(journey)[(1, "remind", "suppressed:already_sent")] == 1
    assert (TENANT, run_timer_id(journey, "p-new")) not in j.db.state.timers


async def test_a_merged_away_run_continues_as_the_survivors() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-new", "cart_updated", {"total": 42.0})
    j.merge("p-old", "p-new")
    survivor = j.instance(journey, "p-old")
    assert (survivor.active, survivor.step_id, survivor.journey_version) == (
        True,
        "wait-for-order",
        1,
    )
    j.event("p-old", "order_placed")  # the survivor's order ends the run it took over
    await j.advance(timedelta(hours=5))
    assert j.send.requests == []
    assert j.instance(journey, "p-old").exit_reason == "converted"


async def test_a_forgotten_person_leaves_every_journey() -> None:
    j = Journeys()
    journey = j.publish(CART)
    j.event("p-1", "cart_updated", {"total": 42.0})
    j.forget("p-1")
    await j.advance(timedelta(hours=5))
    assert j.send.requests == [] and j.instance(journey, "p-1").exit_reason == "forgotten"


VIP = """
journey: vip-welcome
description: Greets people who join the vip audience.
owner: growth-team
entry: {audience: vip, when: 'profile.consent.email_marketing'}
steps:
  - id: hello
    send: {channel: email, template: vip-hello}
    next: done
  - id: done
    exit: {}
"""


async def test_joining_an_audience_enters_its_journeys_once() -> None:
    j = Journeys()
    journey = j.publish(VIP)
    j.audience_entered("p-1", "vip")
    j.audience_entered("p-1", "vip")  # re-entry policy unset: never
    j.audience_entered("p-2", "other")
    assert j.sent_templates() == [("p-1", "vip-hello")]
    assert j.instance(journey, "p-1").exit_reason == "completed"


async def test_an_api_entry_needs_a_live_api_journey() -> None:
    j = Journeys()
    with pytest.raises(NotFound):
        j.enter_by_api("abandoned-cart", "p-1")
    j.publish(CART)
    with pytest.raises(FailedPrecondition):  # entered by cart_updated events only
        j.enter_by_api("abandoned-cart", "p-1")


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # Chicago springs forward on 2026-03-08: 09:00 CDT is 14:00 UTC, the day before 15:00
        (
            datetime(2026, 3, 7, 20, 0, tzinfo=UTC),
            "America/Chicago",
            datetime(2026, 3, 8, 14, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 3, 7, 12, 0, tzinfo=UTC),
            "America/Chicago",
            datetime(2026, 3, 7, 15, 0, tzinfo=UTC),
        ),
        # and falls back on 2026-11-01: 09:00 CST is 15:00 UTC
        (
            datetime(2026, 10, 31, 20, 0, tzinfo=UTC),
            "America/Chicago",
            datetime(2026, 11, 1, 15, 0, tzinfo=UTC),
        ),
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), "", datetime(2026, 3, 8, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 7, 9, 0, tzinfo=UTC), "", datetime(2026, 3, 8, 9, 0, tzinfo=UTC)),
    ],
)
def test_the_next_local_time_of_day_is_dst_correct(
    now: datetime, zone: str, expected: datetime
) -> None:
    assert next_local_time(now, "09:00", zone) == expected


def test_a_time_in_the_spring_gap_happens_just_after_it() -> None:
    # 02:30 does not exist in Chicago on 2026-03-08; 03:30 CDT (08:30 UTC) is the same distance in
    now = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
    assert next_local_time(now, "02:30", "America/Chicago") == datetime(
        2026, 3, 8, 8, 30, tzinfo=UTC
    )


CHECKOUT_FOR_VIPS = """
journey: vip-checkout
description: Greets the vip audience's members at the checkout.
owner: growth-team
entry:
  event: checkout_viewed
  when: '"vip" in profile.audiences && profile.computed.visits_30d > 2'
steps:
  - id: hello
    send: {channel: email, template: vip-hello}
    next: done
  - id: done
    exit: {}
"""


async def test_an_entry_filter_reads_the_audiences_and_computed_traits_identity_answers() -> None:
    j = Journeys()
    j.publish(CHECKOUT_FOR_VIPS)
    for profile_id, audiences, visits in (
        ("p-1", {"vip"}, 3),
        ("p-2", set(), 3),
        ("p-3", {"vip"}, 1),
    ):
        view = replace(
            j.profile(profile_id), audiences=frozenset(audiences), computed={"visits_30d": visits}
        )
        j.directory.add(view)
        j.event(profile_id, "checkout_viewed")
    assert j.sent_templates() == [("p-1", "vip-hello")]


DAILY = """
journey: daily-nudge
owner: growth-team
entry: {event: cart_updated}
steps:
  - id: nudge
    send: {channel: email, template: nudge}
    next: sleep
  - id: sleep
    wait: {duration: 1d}
    next: nudge
"""


async def test_a_journey_looping_through_a_wait_sends_on_each_visit_under_its_own_key() -> None:
    j = Journeys()
    journey = j.publish(DAILY)
    j.event("p-1", "cart_updated", {})
    await j.advance(timedelta(days=2, hours=1))
    assert [r.visit for r in j.send.requests] == [0, 1, 2]
    assert len({r.send_id for r in j.send.requests}) == 3
    assert j.stats(journey)[(1, "nudge", "sent")] == 3
    assert j.instance(journey, "p-1").visit("nudge") == 3


HOURLY_HOOK = """
journey: hourly-hook
owner: growth-team
entry: {event: cart_updated}
steps:
  - id: hook
    webhook: {url: "https://crm.example.com/hook"}
    next: sleep
  - id: sleep
    wait: {duration: 1h}
    next: hook
"""


async def test_each_visit_of_a_webhook_step_calls_with_its_own_idempotency_key() -> None:
    hooks = RecordingWebhooks()
    j = Journeys(webhooks=hooks)
    j.publish(HOURLY_HOOK)
    j.event("p-1", "cart_updated", {})
    await j.advance(timedelta(hours=2, minutes=30))
    assert [step for step, _ in hooks.calls] == ["hook", "hook", "hook"]
    keys = [key for _, key in hooks.calls]
    assert all(keys) and len(set(keys)) == 3


DAILY_OFFER = """
journey: daily-offer
owner: growth-team
entry: {event: cart_updated}
steps:
  - id: pick
    decide: {placement: offer}
    paths: {discount: sleep}
    fallback: sleep
  - id: sleep
    wait: {duration: 1d}
    next: pick
"""


async def test_each_visit_of_a_decide_step_asks_under_its_own_request_id() -> None:
    j = Journeys()
    j.decider.action = "discount"
    journey = j.publish(DAILY_OFFER)
    j.event("p-1", "cart_updated", {})
    timer = j.db.state.timers[(TENANT, run_timer_id(journey, "p-1"))]
    await j.advance(timedelta(days=2, hours=1))
    assert j.decider.calls == 3
    assert len(set(j.decider.request_ids)) == 3  # each visit decided anew
    assert j.instance(journey, "p-1").visit("pick") == 3
    assert j.stats(journey)[(1, "pick", "entered")] == 3
    # a retried fire of the first visit's timer (a crash, another replica) asks again
    # with that visit's id, so the decision service answers the first decision back
    assert j.timer_handler.prepare is not None
    retried = Timer("t-again", TENANT, run_timer_id(journey, "p-1"), "journey.step", *timer)
    await j.timer_handler.prepare(retried)
    assert j.decider.request_ids[-1] == j.decider.request_ids[0]
