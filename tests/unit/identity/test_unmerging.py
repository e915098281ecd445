"""UnmergeProfile's handler on the in-memory unit of work: who may, what it refuses, what
it publishes, and where later events go."""

from __future__ import annotations

import pytest

from layercake.events.v1 import identity_events_pb2 as ev
from services.identity import handlers, queries, unmerging
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.kernel.principals import Actor, Principal, Role
from services.kernel.store.memory import InMemoryDatabase
from tests.unit.identity.test_handlers import T0, ingest, lookup

Db = InMemoryDatabase[IdentityState]
EDITOR = Principal("acme", Actor.parse("person:ann"), frozenset({Role.EDITOR}))
VIEWER = Principal("acme", Actor.parse("person:vic"), frozenset({Role.VIEWER}))


@pytest.fixture
def db() -> Db:
    db = in_memory(FixedClock(T0))
    ingest(db, "m1", ("device_id", "d1"), plan='"free"', consent={"analytics": True})
    ingest(db, "m2", ("device_id", "d2"), ("email", "bob@example.com"), hour=1, plan='"gold"')
    ingest(db, "m3", ("device_id", "d1"), ("device_id", "d2"), hour=2)  # the wrong merge
    return db


def split(db: Db, *refs: str, who: Principal = EDITOR, profile_ref: str = "device_id:d1") -> tuple:
    with InMemoryIdentityUnitOfWork(db) as uow:
        return unmerging.unmerge_profile(uow, who, profile_ref, list(refs), "r-1", "shared tablet")


def test_an_unmerge_splits_re_derives_and_publishes_unmerged_then_both_updates(db: Db) -> None:
    before = len(db.state.outbox)
    profile, split_off = split(db, "device_id:d2", "email:Bob@example.com")
    assert {i.value for i in profile.identifiers} == {"d1"}
    assert lookup(db, "email:bob@example.com").profile_id == split_off.profile_id
    assert lookup(db, "device_id:d2").traits["plan"].json_value == '"gold"'
    kept = lookup(db, "device_id:d1")
    assert kept.traits["plan"].json_value == '"free"' and kept.consent == {"analytics": True}
    assert lookup(db, "device_id:d2").consent == {}
    sent = db.state.outbox[before:]
    assert [m.type.rsplit(".", 1)[1] for m in sent] == [
        "ProfileUnmerged",
        "ProfileUpdated",
        "ProfileUpdated",
    ]
    unmerged = ev.ProfileUnmerged.FromString(sent[0].payload)
    assert (unmerged.profile_id, list(unmerged.new_profile_ids)) == (
        profile.profile_id,
        [split_off.profile_id],
    )
    updated = ev.ProfileUpdated.FromString(sent[2].payload)
    assert updated.profile_id == split_off.profile_id
    assert updated.traits["plan"].json_value == '"gold"' and updated.identifier_count == 2


def test_later_events_go_where_their_identifiers_now_are(db: Db) -> None:
    _, split_off = split(db, "device_id:d2", "email:bob@example.com")
    late = ingest(db, "m4", ("device_id", "d2"), hour=5, city='"Lyon"')
    assert late.profile_id == split_off.profile_id
    assert "city" not in lookup(db, "device_id:d1").traits
    with InMemoryIdentityUnitOfWork(db) as uow:
        timeline = queries.list_profile_events(uow, "acme", "device_id:d2", 0, "")
    assert [e.message_id for e in timeline.items] == ["m4", "m3", "m2"]


def test_only_a_principal_with_profiles_write_may_unmerge(db: Db) -> None:
    with pytest.raises(PermissionDenied):
        split(db, "device_id:d2", who=VIEWER)


@pytest.mark.parametrize(
    ("refs", "error"),
    [
        ((), InvalidArgument),
        (("d2",), InvalidArgument),  # not `<type>:<value>`
        (("cookie_id:nope",), FailedPrecondition),  # not the profile's
        (("device_id:d1", "device_id:d2", "email:bob@example.com"), FailedPrecondition),  # all
    ],
)
def test_a_bad_unmerge_is_refused_and_changes_nothing(
    db: Db, refs: tuple[str, ...], error: type[Exception]
) -> None:
    before = (len(db.state.outbox), sum(len(s) for s in db.state.streams.values()))
    with pytest.raises(error):
        split(db, *refs)
    assert (len(db.state.outbox), sum(len(s) for s in db.state.streams.values())) == before
    with InMemoryIdentityUnitOfWork(db) as uow:
        assert len(handlers.get_profile(uow, "acme", "device_id:d2").identifiers) == 3
