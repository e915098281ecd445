"""Echoed input is clipped in UTF-8 bytes, never mid-character, saying how much was cut."""

from __future__ import annotations

from services.kernel.clipping import clip


def test_text_that_fits_is_unchanged() -> None:
    assert clip("events[0].consent.email", 200) == "events[0].consent.email"
    assert clip("é" * 100, 200) == "é" * 100


def test_long_text_keeps_its_start_and_says_how_much_was_cut() -> None:
    assert clip("x" * 20_000, 200) == "x" * 200 + "…[19800 bytes cut]"


def test_a_multibyte_character_is_never_cut_in_half() -> None:
    clipped = clip("é" * 101, 201)  # 202 bytes; the 101st character would straddle the limit
    assert clipped == "é" * 100 + "…[2 bytes cut]"
