from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain.errors import UnknownConsentPurpose
from services.identity.domain.events import (
    EventReceived,
    IdentifiersLinked,
    ProfileCreated,
    TraitsSet,
    TraitValue,
)
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


def test_taking_an_event_is_one_stored_event_carrying_its_links_and_winning_traits() -> None:
    cookie, user = Identifier("cookie_id", "c1"), Identifier("user_id", "u1")
    p = Profile.create("acme", "p1", T0)
    p.take(EventReceived("m1", T0, (cookie,), {"plan": '"gold"'}))
    p.set_traits({"visits": "3"}, T0 + timedelta(hours=2))
    p.take(EventReceived("m2", T0 + timedelta(hours=1), (cookie, user), {"plan": '"free"'}))
    p.take(EventReceived("m3", T0 + timedelta(hours=1), (user,), {"visits": "1", "x": "2"}))
    taken = [e for e in p.pending if isinstance(e, EventReceived)]
    assert [e.linked for e in taken] == [(cookie,), (user,), ()]
    # an older event never overwrites: m3's visits lost to the later set
    assert [e.traits_set for e in taken] == [("plan",), ("plan",), ("x",)]
    assert [type(e) for e in p.pending] == [ProfileCreated, EventReceived, TraitsSet] + [
        EventReceived
    ] * 2
    assert p.links[user].message_id == "m2" and p.links[user].link_time == T0 + timedelta(hours=1)
    assert p.traits["plan"] == TraitValue('"free"', T0 + timedelta(hours=1))
    assert p.traits["visits"].json_value == "3" and p.update_time == T0 + timedelta(hours=2)
    replayed = Profile.replay(p.pending, p.version)
    assert (replayed.links, replayed.traits, replayed.update_time) == (
        p.links,
        p.traits,
        p.update_time,
    )


def test_a_stream_stored_before_the_fold_replays_to_the_same_profile() -> None:
    """Events stored before `EventReceived` carried its consequences: they came as an
    `IdentifiersLinked` and a `TraitsSet` before it, which replay the same."""
    cookie = Identifier("cookie_id", "c1")
    now = Profile.create("acme", "p1", T0)
    now.take(EventReceived("m1", T0, (cookie,), {"plan": '"gold"'}))
    before = [
        ProfileCreated("acme", "p1", T0),
        IdentifiersLinked((cookie,), "m1", T0),
        TraitsSet({"plan": TraitValue('"gold"', T0)}, "m1"),
        EventReceived("m1", T0, (cookie,), {"plan": '"gold"'}),
    ]
    old = Profile.replay(before, len(before))
    assert (old.links, old.traits, old.update_time) == (now.links, now.traits, now.update_time)
