from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain.errors import UnknownConsentPurpose
from services.identity.domain.events import ProfileCreated, TraitsSet
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_traits_last_write_wins_by_event_time_not_arrival() -> None:
    p = Profile.create("acme", "p1", T0)
    p.set_traits({"plan": '"gold"'}, T0 + timedelta(hours=2))
    p.set_traits({"plan": '"free"'}, T0 + timedelta(hours=1))  # older event arrives late
    assert p.traits["plan"].json_value == '"gold"'
    p.set_traits({"plan": '"platinum"'}, T0 + timedelta(hours=3))
    assert p.traits["plan"].json_value == '"platinum"'


def test_unchanged_traits_record_no_event() -> None:
    p = Profile.create("acme", "p1", T0)
    p.set_traits({"a": "1"}, T0)
    before = len(p.pending)
    p.set_traits({"a": "1"}, T0 + timedelta(seconds=1))
    assert len(p.pending) == before


def test_replay_rebuilds_the_same_state() -> None:
    p = Profile.create("acme", "p1", T0)
    p.link([Identifier("cookie_id", "c1")], T0, "m1")
    p.set_traits({"a": "1"}, T0)
    p.set_consent({"email_marketing": True}, T0)
    again = Profile.replay(p.pending, version=len(p.pending))
    assert (again.identifiers, again.traits, again.consent) == (p.identifiers, p.traits, p.consent)
    assert again.version == 4 and not again.pending


def test_unknown_consent_purpose_is_refused() -> None:
    p = Profile.create("acme", "p1", T0)
    with pytest.raises(UnknownConsentPurpose, match="carrier_pigeon"):
        p.set_consent({"carrier_pigeon": True}, T0)


def test_first_event_is_creation() -> None:
    p = Profile.create("acme", "p1", T0)
    assert isinstance(p.pending[0], ProfileCreated)
    p.set_traits({"x": "2"}, T0)
    assert isinstance(p.pending[-1], TraitsSet)
