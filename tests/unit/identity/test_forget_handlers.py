"""Forgetting and suppression on the in-memory unit of work: the service layer's decisions,
without a database or NATS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.identity import forgetting, handlers
from services.identity.domain.commands import ApplyIngestedEvent
from services.identity.domain.profile import Profile
from services.identity.domain.rules import DEFAULT_RULES
from services.identity.store.memory import IdentityState, InMemoryIdentityUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.errors import NotFound, PermissionDenied
from services.kernel.principals import Actor, Principal, Role
from services.kernel.store.memory import InMemoryDatabase

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
Db = InMemoryDatabase[IdentityState]
OPERATOR = Principal("acme", Actor.system("dpo"), frozenset({Role.ADMIN}))


def ingest(
    db: Db, message_id: str, sequence: int, *ids: tuple[str, str], suppress: bool = True
) -> Profile | None:
    command = ApplyIngestedEvent("acme", message_id, T0, ids, {"first_name": '"Ann"'}, {})
    with InMemoryIdentityUnitOfWork(db) as uow:
        profile = forgetting.ingest_event(
            uow,
            command,
            message_id,
            DEFAULT_RULES,
            stream_sequence=sequence,
            suppress_forgotten=suppress,
        )
        uow.commit()
    return profile


def forget(db: Db, ref: str, principal: Principal = OPERATOR) -> forgetting.Forgotten:
    with InMemoryIdentityUnitOfWork(db) as uow:
        return forgetting.forget_profile(uow, principal, ref, "r-1")


@pytest.fixture
def db() -> Db:
    return in_memory(FixedClock(T0))


def test_forgetting_queues_every_message_of_the_person_and_of_those_merged_in(db: Db) -> None:
    ingest(db, "m-1", 1, ("device_id", "d-1"))
    ingest(db, "m-2", 2, ("device_id", "d-2"))
    ingest(db, "m-3", 3, ("device_id", "d-1"), ("email", "ann@example.com"))
    ingest(db, "m-4", 4, ("device_id", "d-2"), ("email", "ann@example.com"))  # merges
    ingest(db, "m-5", 5, ("device_id", "d-9"))  # someone else
    forgotten = forget(db, "email:ann@example.com")
    assert len(forgotten.alias_profile_ids) == 1
    assert db.state.erasures.keys() == {("INGEST", n) for n in (1, 2, 3, 4)}
    assert db.state.sweeps.keys() == {"acme"}  # and the tenant's dead letters looked through
    assert {k[1] for k in db.state.profile_keys} == {lookup_id(db, "device_id:d-9")}
    for ref in ("device_id:d-1", "device_id:d-2", *forgotten.profile_ids):
        with pytest.raises(NotFound):
            lookup_id(db, ref)


def lookup_id(db: Db, ref: str) -> str:
    with InMemoryIdentityUnitOfWork(db) as uow:
        return handlers.get_profile(uow, "acme", ref).profile_id


def test_a_later_event_with_a_forgotten_identifier_is_suppressed_and_erased(db: Db) -> None:
    ingest(db, "m-1", 1, ("cookie_id", "c-1"), ("email", "ann@example.com"))
    forget(db, "cookie_id:c-1")
    assert ingest(db, "m-2", 7, ("cookie_id", "c-2"), ("email", " ANN@example.com")) is None
    assert db.state.suppressed_messages == {("acme", "m-2"): "forgotten"}
    assert ("INGEST", 7) in db.state.erasures
    with pytest.raises(NotFound):
        lookup_id(db, "cookie_id:c-2")
    other = ingest(db, "m-3", 8, ("cookie_id", "c-3"), ("email", "bob@example.com"))
    assert other is not None  # only the forgotten person is refused


def test_without_suppression_the_identifier_makes_a_new_person(db: Db) -> None:
    first = ingest(db, "m-1", 1, ("email", "ann@example.com"))
    forget(db, "email:ann@example.com")
    again = ingest(db, "m-2", 2, ("email", "ann@example.com"), suppress=False)
    assert first is not None and again is not None
    assert again.profile_id != first.profile_id and not db.state.suppressed_messages


def test_forgetting_needs_the_scope_and_forgets_once(db: Db) -> None:
    ingest(db, "m-1", 1, ("cookie_id", "c-1"))
    viewer = Principal("acme", Actor.system("analyst"), frozenset({Role.VIEWER}))
    with pytest.raises(PermissionDenied):
        forget(db, "cookie_id:c-1", viewer)
    with pytest.raises(NotFound):  # another tenant's operator finds nobody
        forget(db, "cookie_id:c-1", Principal("other", OPERATOR.actor, OPERATOR.roles))
    forget(db, "cookie_id:c-1")
    with pytest.raises(NotFound):
        forget(db, "cookie_id:c-1")


def test_forgetting_leaves_no_clear_identifier_in_the_persons_events_or_outbox(db: Db) -> None:
    ingest(db, "m-1", 1, ("device_id", "dv-ann1"), ("cookie_id", "ck-ann1"))
    ingest(db, "m-2", 2, ("device_id", "dv-ann1"), ("email", "ann@example.com"))
    ingest(db, "m-3", 3, ("device_id", "dv-bob9"))  # someone else
    stored = [e.payload for events in db.state.streams.values() for e in events]
    assert any(b"dv-ann1" in p for p in stored) and any(b"ck-ann1" in p for p in stored)
    forget(db, "device_id:dv-ann1")
    left = [e.payload for events in db.state.streams.values() for e in events]
    left += [m.payload for m in db.state.outbox]
    assert not any(b"dv-ann1" in p or b"ck-ann1" in p for p in left)
    assert any(b"dv-bob9" in p for p in left)  # only the forgotten person's are rewritten
    assert lookup_id(db, "device_id:dv-bob9")
