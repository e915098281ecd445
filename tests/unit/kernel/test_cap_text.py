"""The one grammar of frequency caps, as the orchestrator's settings and the CLI read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.kernel.cap_text import parse_cap_text


def test_caps_read_as_channel_limit_and_window() -> None:
    assert parse_cap_text(" email=3/1d , *=5/1w") == (
        ("email", 3, timedelta(days=1)),
        ("*", 5, timedelta(weeks=1)),
    )
    assert parse_cap_text("") == ()


@pytest.mark.parametrize("bad", ["email=0/1d", "email=3", "email=3/soon", "Email=3/1d"])
def test_a_bad_cap_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        parse_cap_text(f"sms=1/1h,{bad}")
