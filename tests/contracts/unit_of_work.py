"""What every unit of work promises, whichever adapter: subclass it with a `units` fixture.

    class TestMyUnitOfWork(UnitOfWorkContract):
        @pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", ...)])
        def units(self, request) -> Units: ...

The kernel runs it over its in-memory fake, SQLite and PostgreSQL; a service whose
port extends the kernel's runs it over its own adapter and fake too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from services.kernel.clock import FixedClock
from services.kernel.errors import ConcurrencyError
from services.kernel.principals import Actor
from services.kernel.store.records import EventMetadata, NewEvent, OutboxMessage
from services.kernel.unit_of_work import AbstractUnitOfWork
from tests.conftest import random_id

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
CLOCK = FixedClock(NOW)
META = EventMetadata(tenant_id="acme", actor=Actor.system("contract"))


@dataclass(frozen=True)
class Units:
    """A backend under test: new units of work, and what its outbox holds once committed."""

    new: Callable[[], AbstractUnitOfWork]
    outbox: Callable[[], list[str]]


def events(*types: str) -> list[NewEvent]:
    return [NewEvent(type=t, payload=t.encode()) for t in types]


def message(tenant: str = "acme") -> OutboxMessage:
    return OutboxMessage(
        subject=f"layercake.{tenant}.x.y", type="T", payload=b"p", tenant_id=tenant
    )


class UnitOfWorkContract:
    def test_appended_events_are_loaded_back_in_order_once_committed(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            first = uow.append(stream, 0, events("A", "B"), META)
            second = uow.append(stream, 2, events("C"), META)
            uow.commit()
        assert [e.version for e in first + second] == [1, 2, 3]
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
            assert uow.claim("c", event_id)
        with units.new() as uow:
            assert uow.load(stream) == []
            assert uow.claimed("c", [event_id]) == set()
        assert units.outbox() == before

    def test_an_explicit_rollback_discards_the_work(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.rollback()
        with units.new() as uow:
            assert uow.load(stream) == []

    def test_a_stale_writer_gets_concurrency_error_and_appends_nothing(self, units: Units) -> None:
        stream = random_id("s-")
        with units.new() as uow:
            uow.append(stream, 0, events("A"), META)
            uow.commit()
        with units.new() as uow:
            with pytest.raises(ConcurrencyError):
                uow.append(stream, 0, events("B", "C"), META)
            uow.commit()
        with units.new() as uow:
            assert [e.type for e in uow.load(stream)] == ["A"]

    def test_a_published_message_reaches_the_outbox_on_commit(self, units: Units) -> None:
        sent = message()
        with units.new() as uow:
            uow.publish(sent)
            uow.commit()
        assert sent.event_id in units.outbox()

    def test_a_claim_is_granted_once_per_consumer(self, units: Units) -> None:
        first, second, third = (random_id("e-") for _ in range(3))
        with units.new() as uow:
            assert uow.claim("c", first)
            assert not uow.claim("c", first)
            uow.claim_all("c", [second])
            uow.commit()
        with units.new() as uow:
            assert uow.claimed("c", [first, second, third]) == {first, second}
            assert uow.claimed("other", [first]) == set()
            assert not uow.claim("c", second)
            assert uow.claim("other", first)

    def test_a_batch_claim_of_a_claimed_event_fails(self, units: Units) -> None:
        taken = random_id("e-")
        with units.new() as uow:
            uow.claim("c", taken)
            uow.commit()
        with units.new() as uow, pytest.raises(Exception):  # noqa: B017 (driver-specific)
            uow.claim_all("c", [random_id("e-"), taken])

    def test_a_failed_savepoint_undoes_only_its_own_work(self, units: Units) -> None:
        kept, undone = random_id("s-"), random_id("s-")
        with units.new() as uow:
            uow.append(kept, 0, events("A"), META)
            with pytest.raises(ValueError), uow.savepoint():
                uow.append(undone, 0, events("B"), META)
                raise ValueError("handler failed")
            with uow.savepoint():
                uow.append(kept, 1, events("C"), META)
            uow.commit()
        with units.new() as uow:
            assert [e.type for e in uow.load(kept)] == ["A", "C"]
            assert uow.load(undone) == []

    def test_time_comes_from_the_injected_clock(self, units: Units) -> None:
        with units.new() as uow:
            assert uow.now() == NOW
