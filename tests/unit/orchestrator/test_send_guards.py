"""Consent, an address for the channel and quiet hours, as pure functions of the request
and the time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.orchestrator.domain.guards import (
    QuietHours,
    check_address,
    check_consent,
    check_quiet_hours,
)
from services.orchestrator.domain.sending import DelayReason, ProfileSnapshot, SuppressionReason

QUIET = QuietHours.parse("21:00-08:00")


@pytest.mark.parametrize(
    ("consent", "detail"),
    [
        ({}, "email_marketing never granted"),
        ({"email_marketing": False}, "email_marketing revoked"),
    ],
)
def test_no_decision_and_a_revocation_both_suppress(consent: dict[str, bool], detail: str) -> None:
    suppressed = check_consent("email", consent)
    assert suppressed is not None and suppressed.reason is SuppressionReason.NO_CONSENT
    assert suppressed.detail == detail


def test_consent_is_for_the_channels_purpose_only() -> None:
    assert check_consent("email", {"email_marketing": True}) is None
    assert check_consent("sms", {"email_marketing": True}) is not None
    assert check_consent("fax", {"email_marketing": True}) is not None


@pytest.mark.parametrize(
    ("channel", "trait"), [("email", "email"), ("sms", "phone"), ("push", "push_token")]
)
def test_a_channel_that_delivers_to_a_trait_needs_one_holding_an_address(
    channel: str, trait: str
) -> None:
    for traits in ({}, {trait: ""}, {trait: "  "}, {trait: None}, {trait: 42}, {"name": "Ann"}):
        suppressed = check_address(channel, ProfileSnapshot("p-1", traits))
        assert suppressed is not None and suppressed.reason is SuppressionReason.NO_ADDRESS
        assert suppressed.detail == f"no {trait} for channel {channel}"
    assert check_address(channel, ProfileSnapshot("p-1", {trait: "ann@example.com"})) is None
    # known by name only (the contact state: its value stays sealed with identity)
    sealed = ProfileSnapshot("p-1", sealed_addresses=frozenset({trait}))
    assert check_address(channel, sealed) is None
    other = "phone" if trait != "phone" else "email"
    elsewhere = ProfileSnapshot("p-1", sealed_addresses=frozenset({other}))
    assert check_address(channel, elsewhere) is not None


def test_a_webhook_needs_no_address_of_the_person() -> None:
    assert check_address("webhook", ProfileSnapshot("p-1")) is None


def test_inside_evening_quiet_hours_waits_for_the_next_local_morning() -> None:
    now = datetime(2026, 3, 2, 4, 30, tzinfo=UTC)  # 22:30 in Chicago (UTC-6)
    delayed = check_quiet_hours(now, "America/Chicago", QUIET)
    assert delayed is not None and delayed.reason is DelayReason.QUIET_HOURS
    assert delayed.until == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 08:00 Chicago


def test_early_morning_waits_until_the_same_days_end() -> None:
    now = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # 06:00 in Paris (UTC+1)
    delayed = check_quiet_hours(now, "Europe/Paris", QUIET)
    assert delayed is not None and delayed.until == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_the_end_follows_a_dst_change_during_the_night() -> None:
    # Chicago springs forward on 2026-03-08: 22:00 CST the night before, 08:00 CDT after.
    now = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)
    delayed = check_quiet_hours(now, "America/Chicago", QUIET)
    assert delayed is not None and delayed.until == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


def test_outside_quiet_hours_or_without_them_nothing_waits() -> None:
    noon_chicago = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    assert check_quiet_hours(noon_chicago, "America/Chicago", QUIET) is None
    assert check_quiet_hours(datetime(2026, 3, 2, 4, tzinfo=UTC), "Europe/Paris", None) is None


def test_an_unknown_zone_uses_the_default_zone() -> None:
    now = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    delayed = check_quiet_hours(now, "Mars/Olympus", QUIET, default_zone="UTC")
    assert delayed is not None and delayed.until == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_a_day_time_span_and_bad_spans() -> None:
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch.contains(datetime(2026, 1, 1, 13, 0).time())
    assert not lunch.contains(datetime(2026, 1, 1, 13, 30).time())
    for bad in ("21:00", "25:00-08:00", "08:00-08:00"):
        with pytest.raises(ValueError):
            QuietHours.parse(bad)
