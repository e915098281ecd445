"""What every unit of work promises, whichever adapter: subclass it with a `units` fixture.

    class TestMyUnitOfWork(UnitOfWorkContract):
        @pytest.fixture(params=ALL_BACKENDS)
        def units(self, request, tmp_path) -> Iterator[Units]:
            with units_for(request.param, tmp_path, MIGRATIONS, SqlMyUoW, InMemoryMyUoW, my_db):
                ...

The kernel runs it over its in-memory fake, SQLite and PostgreSQL; a service whose
port extends the kernel's runs it over its own adapter and fake too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from services.kernel.clock import FixedClock
from services.kernel.errors import ConcurrencyError, DuplicateEvent
from services.kernel.principals import Actor
from services.kernel.profile_copies import ProfileCopies
from services.kernel.store.database import Database
from services.kernel.store.memory import InMemoryDatabase, MemoryState
from services.kernel.store.projections import Projection
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage
from services.kernel.store.schema import outbox
from services.kernel.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from services.kernel.unit_of_work import AbstractUnitOfWork
from tests.conftest import random_id, sql_database

S = TypeVar("S", bound=MemoryState)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CLOCK = FixedClock(NOW)
META = EventMetadata(tenant_id="acme", actor=Actor.system("contract"))


@dataclass(frozen=True)
class Units:
    """A backend under test: new units of work, and what its outbox holds once committed."""

    new: Callable[[], AbstractUnitOfWork]
    outbox: Callable[[], list[str]]


def committed_outbox(db: Database) -> list[str]:
    with db.transaction() as s:
        return list(s.execute(select(outbox.c.event_id)).scalars())


@contextlib.contextmanager
def units_for(
    backend: str,
    root: Path,
    migrations: Path | None,
    sql: type[UnitOfWork],
    memory: Callable[[InMemoryDatabase[S]], AbstractUnitOfWork],
    state: Callable[[], S],
    projections: Sequence[Projection] = (),
) -> Iterator[Units]:
    """Units of work of one adapter: "memory" (the fake on a fresh state), "sqlite" or
    "postgres" (the SQLAlchemy adapter on a freshly migrated database, with the service's
    `projections` keeping its read models)."""
    if backend == "memory":
        db = InMemoryDatabase(state(), CLOCK)
        yield Units(lambda: memory(db), lambda: [m.event_id for m in db.state.outbox])
        return
    with sql_database(backend, root, migrations) as sql_db:
        factory = UnitOfWorkFactory(sql_db.sessions, CLOCK, projections, kind=sql)
        yield Units(factory, lambda: committed_outbox(sql_db))


def events(*types: str) -> list[NewEvent]:
    return [NewEvent(type=t, payload=t.encode()) for t in types]


def message(tenant: str = "acme") -> OutboxMessage:
    return OutboxMessage(
        subject=f"layercake.{tenant}.x.y", type="T", payload=b"p", tenant_id=tenant
    )


class UnitOfWorkContract:
    def test_appended_events_are_loaded_back_in_order_once_committed(self, units: Units) -> None:
        stream = random_id("s-")
        first, second = events("A", "B"), events("C")
        with units.new() as uow:
            uow.append(stream, 0, first, META)
            uow.append(stream, 2, second, META)
            uow.commit()
        with units.new() as uow:
            loaded = uow.load(stream)
        assert [(e.version, e.type, e.payload) for e in loaded] == [
            (1, "A", b"A"),
            (2, "B", b"B"),
            (3, "C", b"C"),
        ]
        assert [e.event_id for e in loaded] == [e.event_id for e in first + second]
        assert loaded[0].position < loaded[1].position < loaded[2].position
        assert loaded[0].metadata == META and loaded[0].recorded_time == NOW

    def test_an_unknown_stream_loads_empty(self, units: Units) -> None:
        with units.new() as uow:
            assert uow.load(random_id("s-")) == []

    def test_nothing_is_kept_without_commit(self, units: Units) -> None:
        stream, event_id = random_id("s-"), random_id("e-")
        before = units.outbox()
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.publish(message())
            assert uow.claim("c", [event_id]) == {event_id}
        with units.new() as uow:
            assert uow.load(stream) == []
            assert uow.claim("c", [event_id]) == {event_id}
        assert units.outbox() == before

    def test_an_explicit_rollback_discards_the_work(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.rollback()
        with units.new() as uow:
            assert uow.load(stream) == []

    def test_a_stale_writer_gets_concurrency_error_and_appends_nothing(self, units: Units) -> None:
        stream, other = random_id("s-"), random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.commit()
        with units.new() as uow:
            uow.append(stream, 0, events("B", "C"), META)
            uow.append(other, 0, events("D"), META)
            with pytest.raises(ConcurrencyError):
                uow.flush()
            uow.commit()  # still usable: the refused append is gone, the other one stays
        with units.new() as uow:
            assert [e.type for e in uow.load(stream)] == ["A"]
            assert [e.type for e in uow.load(other)] == ["D"]

    def test_a_refused_append_raises_at_the_latest_at_commit(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.commit()
        with units.new() as uow:
            uow.append(stream, 0, events("B"), META)
            with pytest.raises(ConcurrencyError):
                uow.commit()
        with units.new() as uow:
            uow.append(stream, 0, events("B"), META)
            with pytest.raises(ConcurrencyError):
                uow.load(random_id("s-"))  # a read flushes first
        with units.new() as uow:
            assert [e.type for e in uow.load(stream)] == ["A"]

    def test_an_append_is_seen_by_a_load_in_its_unit_of_work(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            assert [e.type for e in uow.load(stream)] == ["A"]
            uow.append(stream, 1, events("B"), META)
            assert [(e.version, e.type) for e in uow.load(stream)] == [(1, "A"), (2, "B")]

    def test_two_appends_at_one_version_in_one_unit_of_work_conflict(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.append(stream, 0, events("B"), META)
            with pytest.raises(ConcurrencyError):
                uow.flush()
            uow.commit()
        with units.new() as uow:
            assert [e.type for e in uow.load(stream)] == ["A"]

    def test_an_exact_repeat_of_an_append_records_nothing(self, units: Units) -> None:
        stream = random_id("s-")
        appended = events("A", "B")
        with units.new() as uow:
            uow.append(stream, 0, appended, META)
            uow.commit()
        with units.new() as uow:
            uow.append(stream, 0, appended, META)
            uow.commit()
        with units.new() as uow:
            uow.append(stream, 0, appended, META)
            uow.append(stream, 0, appended, META)  # repeated within one unit of work too
            uow.commit()
        with units.new() as uow:
            assert [e.type for e in uow.load(stream)] == ["A", "B"]

    def test_an_event_id_recorded_elsewhere_is_a_duplicate_not_a_conflict(
        self, units: Units
    ) -> None:
        taken = events("A")
        with units.new() as uow:
            uow.append(random_id("s-"), 0, taken, META)
            uow.commit()
        with units.new() as uow, pytest.raises(DuplicateEvent):
            uow.append(random_id("s-"), 0, taken, META)
            uow.flush()
        shared = NewEvent("A", b"x", event_id=random_id("e-"))
        with units.new() as uow, pytest.raises(DuplicateEvent):
            uow.append(random_id("s-"), 0, [shared], META)
            uow.append(random_id("s-"), 0, [shared], META)  # the same id in two streams
            uow.flush()

    def test_an_event_id_twice_in_one_append_is_refused_at_once(self, units: Units) -> None:
        twice = NewEvent("A", b"x", event_id=random_id("e-"))
        with units.new() as uow, pytest.raises(DuplicateEvent):
            uow.append(random_id("s-"), 0, [twice, twice], META)

    def test_a_published_message_reaches_the_outbox_on_commit(self, units: Units) -> None:
        sent = message()
        with units.new() as uow:
            uow.publish(sent)
            uow.commit()
        assert sent.event_id in units.outbox()

    def test_a_claim_is_granted_once_per_consumer(self, units: Units) -> None:
        first, second, third = (random_id("e-") for _ in range(3))
        with units.new() as uow:
            assert uow.claim("c", [first]) == {first}
            assert uow.claim("c", [first, second, second]) == {second}
            assert uow.claim("c", []) == set()
            uow.commit()
        with units.new() as uow:
            assert uow.claim("c", [first, second, third]) == {third}
            assert uow.claim("other", [first]) == {first}

    def test_a_failed_savepoint_undoes_only_its_own_work(self, units: Units) -> None:
        kept, undone = random_id("s-"), random_id("s-")
        before = units.outbox()
        with units.new() as uow:
            uow.append(kept, 0, events("A"), META)
            with pytest.raises(ValueError), uow.savepoint():
                uow.append(undone, 0, events("B"), META)
                uow.publish(message())
                raise ValueError("handler failed")
            with uow.savepoint():
                uow.append(kept, 1, events("C"), META)
            with pytest.raises(ConcurrencyError), uow.savepoint():
                uow.append(kept, 1, events("stale"), META)  # refused as the savepoint ends
            uow.commit()
        with units.new() as uow:
            assert [e.type for e in uow.load(kept)] == ["A", "C"]
            assert uow.load(undone) == []
        assert units.outbox() == before

    def test_time_comes_from_the_injected_clock(self, units: Units) -> None:
        with units.new() as uow:
            assert uow.now() == NOW


class ProfileCopiesContract(UnitOfWorkContract):
    """A service's copies of identity's profiles (contact states, features): merged under
    the service's rule, scoped by tenant, kept only on commit."""

    def copy(self, version: int, tenant_id: str = "acme", profile_id: str = "p-1") -> Any:
        """A copy of profile `profile_id` at `version`."""
        raise NotImplementedError

    def copies(self, uow: AbstractUnitOfWork) -> ProfileCopies[Any]:
        raise NotImplementedError

    def newer(self, version: int) -> Callable[[Any], Any]:
        """A merge that keeps the higher version, as the services' rules do."""
        return lambda held: None if held and held.profile_version >= version else self.copy(version)

    def test_a_merge_writes_unless_it_changes_nothing(self, units: Units) -> None:
        with units.new() as uow:
            assert self.copies(uow).merge("acme", "p-1", self.newer(2))
            assert self.copies(uow).merge("acme", "p-1", self.newer(4))
            assert not self.copies(uow).merge("acme", "p-1", self.newer(3))
            uow.commit()
        with units.new() as uow:
            assert self.copies(uow).get("acme", "p-1") == self.copy(4)
            assert self.copies(uow).get("acme", "p-2") is None
            assert self.copies(uow).get("other", "p-1") is None

    def test_the_merge_sees_the_copy_held(self, units: Units) -> None:
        seen: list[Any] = []

        def remember(held: Any) -> Any:
            seen.append(held)
            return self.copy(7, profile_id="p-3")

        with units.new() as uow:
            self.copies(uow).merge("acme", "p-3", remember)
            self.copies(uow).merge("acme", "p-3", remember)
            uow.commit()
        assert seen == [None, self.copy(7, profile_id="p-3")]

    def test_a_popped_copy_is_returned_once_and_gone(self, units: Units) -> None:
        with units.new() as uow:
            self.copies(uow).merge("acme", "p-5", lambda _: self.copy(2, profile_id="p-5"))
            self.copies(uow).merge("acme", "p-6", lambda _: self.copy(2, profile_id="p-6"))
            uow.commit()
        with units.new() as uow:
            assert self.copies(uow).pop("acme", "p-5") == self.copy(2, profile_id="p-5")
            assert self.copies(uow).pop("acme", "p-5") is None
            assert self.copies(uow).pop("other", "p-6") is None
            uow.commit()
        with units.new() as uow:
            assert self.copies(uow).get("acme", "p-5") is None
            assert self.copies(uow).get("acme", "p-6") is not None

    def test_a_copy_is_kept_only_on_commit(self, units: Units) -> None:
        with units.new() as uow:
            self.copies(uow).merge("acme", "p-9", self.newer(1))
        with units.new() as uow:
            assert self.copies(uow).get("acme", "p-9") is None

    @pytest.mark.parametrize(("tenant_id", "profile_id"), [("acme", ""), ("", "p-1")])
    def test_a_change_without_tenant_or_profile_is_refused(
        self, units: Units, tenant_id: str, profile_id: str
    ) -> None:
        with units.new() as uow, pytest.raises(ValueError):
            self.copies(uow).merge(tenant_id, profile_id, self.newer(1))
