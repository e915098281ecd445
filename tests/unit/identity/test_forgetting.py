"""Forgetting a person, as the domain sees it: the profile is emptied and its identifiers
are remembered only as keyed digests."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from services.identity.domain.events import ProfileForgotten
from services.identity.domain.forgetting import suppression_digests
from services.identity.domain.identifiers import Identifier
from services.identity.domain.profile import Profile

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def hasher(key: bytes):  # type: ignore[no-untyped-def]
    return lambda value: hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def test_a_forgotten_profile_holds_nothing_and_replays_so() -> None:
    p = Profile.create("acme", "p1", T0)
    p.link([Identifier("user_id", "u-1")], T0, "m1")
    p.set_traits({"first_name": '"Ann"'}, T0)
    p.set_consent({"email_marketing": True}, T0)
    p.forget(["p0"], ["d1"], T0, "r-1")
    p.forget(["p0"], ["d1"], T0, "r-2")  # twice: no change
    assert [type(e) for e in p.pending][-1] is ProfileForgotten
    assert sum(isinstance(e, ProfileForgotten) for e in p.pending) == 1
    again = Profile.replay(p.pending, version=len(p.pending))
    for profile in (p, again):
        assert profile.forgotten
        assert (profile.links, profile.traits, profile.consent) == ({}, {}, {})


def test_digests_cover_every_identifier_under_the_tenants_key_and_reveal_none() -> None:
    ids = [Identifier("user_id", "u-1"), Identifier("email", "e" * 64, hashed=True)]
    mine, theirs = suppression_digests(ids, hasher(b"a")), suppression_digests(ids, hasher(b"b"))
    assert len(mine) == 2 and mine == tuple(sorted(mine))
    assert set(mine).isdisjoint(theirs)  # another tenant's key: other digests
    assert not any("u-1" in d for d in mine)
    assert suppression_digests([ids[0]], hasher(b"a"))[0] in mine
