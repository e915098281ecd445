"""Every step type on the in-memory unit of work, with an injected clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from layercake.events.v1 import orchestrator_events_pb2 as oe
from services.orchestrator.domain.instances import events as ev
from services.orchestrator.domain.instances.buckets import bucket_of, path_of
from services.orchestrator.domain.sending import (
    Delayed,
    DelayReason,
    Suppressed,
    SuppressionReason,
)
from services.orchestrator.mapping import INSTANCE_EVENTS
from tests.unit.orchestrator.journey_harness import TENANT, Journeys

WELCOME = (Path(__file__).parent / "journeys" / "welcome-series.yaml").read_text()


def events_of(j: Journeys, journey: str, profile: str) -> list[ev.InstanceEvent]:
    stream = j.db.state.streams[f"journey-instance/{TENANT}/{journey}/{profile}"]
    return [INSTANCE_EVENTS.decode(s, None) for s in stream]


async def test_a_journey_with_every_step_type_runs_to_its_end() -> None:
    j = Journeys()  # T0 is Monday 12:00 UTC, 06:00 in Chicago
    journey = j.publish(WELCOME)
    j.profile("p-1", tier="gold", timezone="America/Chicago")
    assert j.enter_by_api(journey, "p-1").entered
    await j.advance(timedelta(hours=1))  # settle: 07:00 in Chicago, waits for 09:00
    assert j.instance(journey, "p-1").step_id == "morning"
    await j.advance(timedelta(hours=2))  # 09:00 in Chicago: branch, update, webhook, wait
    instance = j.instance(journey, "p-1")
    assert (instance.step_id, instance.wait and instance.wait.event) == (
        "wait-click",
        "email_clicked",
    )
    updates = [m for m in j.db.state.outbox if m.type.endswith("ProfileUpdateRequested")]
    assert [
        oe.ProfileUpdateRequested.FromString(m.payload).traits["welcomed"] for m in updates
    ] == [True]
    await j.advance(timedelta(days=2))
    assert j.sent_templates() == [("p-1", "welcome")]
    taken = [
        (e.step_id, e.outcome) for e in events_of(j, journey, "p-1") if isinstance(e, ev.StepTaken)
    ]
    assert taken == [
        ("settle", "elapsed"),
        ("morning", "elapsed"),
        ("vip", "branch[0]"),
        ("tag", "requested"),
        ("hook", "called:skipped"),
        ("wait-click", "timeout"),
        ("mail", "sent"),
    ]
    assert j.instance(journey, "p-1").exit_reason == "completed"


async def test_the_local_time_wait_follows_the_profiles_zone() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    j.profile("p-1", tier="gold", timezone="Asia/Tokyo")  # 13:00 after settle: tomorrow 09:00
    j.enter_by_api(journey, "p-1")
    await j.advance(timedelta(hours=1))
    wait = j.instance(journey, "p-1").wait
    assert wait is not None and wait.due_time == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


def profile_on_path(index: int) -> str:
    """The first `p-<n>` whose bucket at the welcome split falls on path `index` (-1: holdout)."""
    return next(
        p
        for p in (f"p-{n}" for n in range(1000))
        if path_of(bucket_of("welcome-series", "ab", p), 0.1, [50, 50]) == index
    )


def test_split_buckets_are_shared_by_weight_after_the_holdout() -> None:
    shares = Counter(path_of(b, 0.1, [50, 50]) for b in range(10_000))
    assert shares == {-1: 1000, 0: 4500, 1: 4500}
    assert bucket_of("j", "s", "p-1") == bucket_of("j", "s", "p-1") != bucket_of("j", "s", "p-2")


async def test_a_split_assignment_is_recorded_and_the_holdout_leaves() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    chosen = {index: profile_on_path(index) for index in (-1, 0, 1)}
    for p in chosen.values():
        j.profile(p)
        j.enter_by_api(journey, p)
    await j.advance(timedelta(hours=24))
    for index, p in chosen.items():
        [split] = [e for e in events_of(j, journey, p) if isinstance(e, ev.SplitAssigned)]
        assert (split.bucket, split.path_index) == (bucket_of(journey, "ab", p), index)
    assert j.instance(journey, chosen[-1]).exit_reason == "holdout"
    assert j.instance(journey, chosen[0]).step_id == "wait-click"


async def test_a_slow_decision_falls_back() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    j.decider.error = TimeoutError()
    p = profile_on_path(1)  # the path through `pick`
    j.profile(p)
    j.enter_by_api(journey, p)
    await j.advance(timedelta(hours=24))
    [decision] = [e for e in events_of(j, journey, p) if isinstance(e, ev.DecisionRecorded)]
    assert (decision.fallback_reason, j.decider.calls) == ("timeout", 1)
    assert j.instance(journey, p).step_id == "wait-click"


async def test_a_decided_action_takes_its_path() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    j.decider.action, j.decider.product = "discount", "ten-off"
    p = profile_on_path(1)
    j.profile(p)
    j.enter_by_api(journey, p)
    await j.advance(timedelta(hours=24))
    taken = [
        (e.step_id, e.outcome) for e in events_of(j, journey, p) if isinstance(e, ev.StepTaken)
    ]
    assert ("pick", "action:discount") in taken


async def test_a_suppressed_send_is_recorded_with_its_reason_and_the_run_goes_on() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    j.send.answers["welcome"] = Suppressed(SuppressionReason.NO_CONSENT)
    j.profile("p-1", tier="gold")
    j.enter_by_api(journey, "p-1")
    await j.advance(timedelta(days=4))
    assert j.instance(journey, "p-1").exit_reason == "completed"
    assert j.stats(journey)[(1, "mail", "suppressed:no_consent")] == 1


async def test_a_delayed_send_is_tried_again_when_the_delay_ends() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    j.profile("p-1", tier="gold")
    j.enter_by_api(journey, "p-1")
    await j.advance(timedelta(days=2, hours=20))  # the send is due at 2d21h
    j.send.answers["welcome"] = Delayed(j.clock.now() + timedelta(hours=3), DelayReason.QUIET_HOURS)
    await j.advance(timedelta(hours=2))
    assert j.instance(journey, "p-1").wait.reason == "send_delayed"  # type: ignore[union-attr]
    del j.send.answers["welcome"]
    await j.advance(timedelta(hours=3))
    assert [r.step.template for r in j.send.requests] == ["welcome", "welcome"]
    assert j.stats(journey)[(1, "mail", "sent")] == 1
    assert j.instance(journey, "p-1").exit_reason == "completed"


async def test_an_awaited_event_ends_the_wait_early() -> None:
    j = Journeys()
    journey = j.publish(WELCOME)
    j.profile("p-1", tier="gold")
    j.enter_by_api(journey, "p-1")
    await j.advance(timedelta(hours=24))
    j.event("p-1", "email_clicked")
    assert j.instance(journey, "p-1").exit_reason == "completed"
    assert j.send.requests == []
