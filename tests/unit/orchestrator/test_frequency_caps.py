"""Frequency caps: full caps, and the hold that gives a cap's last slot to the best send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.orchestrator.domain.frequency_caps import (
    FrequencyCap,
    Full,
    Hold,
    LedgerEntry,
    Outbid,
    Pass,
    SendState,
    check_caps,
    parse_caps,
)

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
HOLD = timedelta(seconds=30)
CAPS = (FrequencyCap("email", 2, timedelta(days=1)), FrequencyCap("*", 3, timedelta(days=1)))


def entry(
    send_id: str,
    state: SendState = SendState.SENT,
    at: datetime = NOW - timedelta(hours=1),
    channel: str = "email",
    value: float = 0.0,
    hold_until: datetime | None = None,
    priority: int = 0,
) -> LedgerEntry:
    return LedgerEntry(
        "acme",
        "p-1",
        send_id,
        channel,
        "j",
        "s",
        state,
        at,
        value,
        priority=priority,
        hold_until=hold_until,
    )


def held(send_id: str, value: float, at: datetime = NOW - HOLD, priority: int = 0) -> LedgerEntry:
    return entry(send_id, SendState.HELD, at, value=value, hold_until=at + HOLD, priority=priority)


def test_room_left_sends_at_once() -> None:
    assert check_caps(CAPS, "email", "new", 1.0, [], NOW, HOLD) == Pass()


def test_a_full_channel_cap_or_all_channel_cap_refuses() -> None:
    two_mails = [entry("a"), entry("b")]
    assert check_caps(CAPS, "email", "new", 1.0, two_mails, NOW, HOLD) == Full(CAPS[0])
    mixed = [entry("a", channel="sms"), entry("b", channel="push"), entry("c")]
    assert check_caps(CAPS, "email", "new", 1.0, mixed, NOW, HOLD) == Full(CAPS[1])


def test_sends_outside_the_window_do_not_count() -> None:
    old = [entry("a", at=NOW - timedelta(days=2)), entry("b", at=NOW - timedelta(days=2))]
    assert check_caps(CAPS, "email", "new", 1.0, old, NOW, HOLD) == Pass()


def test_the_last_slot_is_held_first() -> None:
    assert check_caps(CAPS, "email", "new", 1.0, [entry("a")], NOW, HOLD) == Hold(NOW + HOLD)


def test_asked_again_before_the_hold_ends_keeps_holding() -> None:
    own = held("new", 1.0, at=NOW - timedelta(seconds=5))
    verdict = check_caps(CAPS, "email", "new", 1.0, [entry("a"), own], NOW, HOLD)
    assert verdict == Hold(own.hold_until)


def test_at_the_end_of_the_hold_the_highest_value_wins() -> None:
    rival = held("rival", 9.0, at=NOW - timedelta(seconds=10))
    entries = [entry("a"), held("new", 1.0), rival]
    assert check_caps(CAPS, "email", "new", 1.0, entries, NOW, HOLD) == Outbid(CAPS[0], "rival")
    # the winner, once its own hold ends, takes the slot
    later = NOW + timedelta(seconds=20)
    assert check_caps(CAPS, "email", "rival", 9.0, entries, later, HOLD) == Pass()


def test_a_tie_goes_to_the_earlier_asker() -> None:
    entries = [
        entry("a"),
        held("first", 5.0, NOW - HOLD - timedelta(seconds=1)),
        held("second", 5.0),
    ]
    assert check_caps(CAPS, "email", "second", 5.0, entries, NOW, HOLD) == Outbid(CAPS[0], "first")


def test_on_a_tie_of_value_the_higher_priority_journey_wins_though_it_asked_later() -> None:
    first = held("first", 5.0, NOW - HOLD - timedelta(seconds=1), priority=1)
    second = held("second", 5.0, priority=7)
    entries = [entry("a"), first, second]
    assert check_caps(CAPS, "email", "first", 5.0, entries, NOW, HOLD) == Outbid(CAPS[0], "second")
    assert check_caps(CAPS, "email", "second", 5.0, entries, NOW, HOLD) == Pass()


def test_value_still_outranks_priority() -> None:
    urgent = held("urgent", 1.0, priority=9)
    worth = held("worth", 2.0, priority=0)
    entries = [entry("a"), urgent, worth]
    assert check_caps(CAPS, "email", "urgent", 1.0, entries, NOW, HOLD) == Outbid(CAPS[0], "worth")


def test_a_holder_that_never_came_back_lapses() -> None:
    gone = held("gone", 9.0, at=NOW - timedelta(minutes=5))
    entries = [entry("a"), held("new", 1.0), gone]
    assert check_caps(CAPS, "email", "new", 1.0, entries, NOW, HOLD) == Pass()


def test_without_a_hold_window_the_last_slot_goes_at_once() -> None:
    assert check_caps(CAPS, "email", "new", 1.0, [entry("a")], NOW, timedelta(0)) == Pass()


def test_caps_are_read_from_settings_text() -> None:
    caps = parse_caps("email=3/24h, *=5/7d")
    assert caps == (
        FrequencyCap("email", 3, timedelta(hours=24)),
        FrequencyCap("*", 5, timedelta(days=7)),
    )
    for bad in ("email=0/1d", "email=3", "email=3/soon"):
        with pytest.raises(ValueError, match="frequency cap"):
            parse_caps(bad)
