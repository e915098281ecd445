"""A scheduled entry's occurrences: on the wall clock of its zone, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.orchestrator.domain.journeys.schedule import (
    NeverFires,
    Occurrence,
    cron_problem,
    next_occurrence,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_nine_in_paris_is_nine_in_paris_winter_and_summer() -> None:
    winter = next_occurrence("0 9 * * *", "Europe/Paris", utc(2026, 3, 28, 9, 0))
    summer = next_occurrence("0 9 * * *", "Europe/Paris", winter)
    assert winter == utc(2026, 3, 29, 7, 0)  # 29 March: clocks went forward at 02:00
    assert next_occurrence("0 9 * * *", "Europe/Paris", utc(2026, 3, 27, 9, 0)) == utc(
        2026, 3, 28, 8, 0
    )
    assert summer == utc(2026, 3, 30, 7, 0)


def test_a_time_the_spring_gap_skips_is_moved_on_by_the_gap() -> None:
    # New York, 8 March 2026: 02:00 EST becomes 03:00 EDT; 02:30 does not exist that day
    fired = next_occurrence("30 2 * * *", "America/New_York", utc(2026, 3, 8, 5, 0))
    assert fired == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert next_occurrence("30 2 * * *", "America/New_York", fired) == utc(2026, 3, 9, 6, 30)


def test_a_time_the_autumn_repeats_fires_once_at_its_first_pass() -> None:
    # New York, 1 November 2026: 01:30 happens twice (EDT, then EST)
    first = next_occurrence("30 1 * * *", "America/New_York", utc(2026, 11, 1, 4, 0))
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert next_occurrence("30 1 * * *", "America/New_York", first) == utc(2026, 11, 2, 6, 30)


def test_the_next_occurrence_is_strictly_after() -> None:
    at = utc(2026, 5, 4, 9, 0)
    assert next_occurrence("0 9 * * *", "", at) == utc(2026, 5, 5, 9, 0)
    assert next_occurrence("* * * * *", "", utc(2026, 5, 4, 9, 0, 30)) == utc(2026, 5, 4, 9, 1)


def test_a_cron_that_never_fires_is_refused() -> None:
    with pytest.raises(NeverFires):
        next_occurrence("0 0 30 2 *", "UTC", utc(2026, 1, 1))
    assert "never fires" in cron_problem("0 0 30 2 *")
    assert "five cron fields" in cron_problem("0 9 * *")
    assert "not a valid cron" in cron_problem("0 25 * * *")
    assert cron_problem("*/15 9-17 * * 1-5") == ""


def test_an_occurrence_round_trips_through_its_timer_payload() -> None:
    occurrence = Occurrence("weekly", 3, utc(2026, 5, 4, 9, 0), after="p-17")
    assert Occurrence.parse(occurrence.payload()) == occurrence
    assert occurrence.occurrence_id == "schedule:weekly@2026-05-04T09:00:00+00:00"
