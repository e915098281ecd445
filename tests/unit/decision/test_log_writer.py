"""The decision log's writer and this replica's exposure counts: answered decisions count
at once, are written in batches (a failed batch again, until it goes in; one the database
refuses split around the refused decisions, which still count), and the counts then stand
on the log's counters, kept current from every replica's writes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.exc import IntegrityError, OperationalError

from layercake.events.v1 import identity_events_pb2
from services.decision import handlers, logging, mapping
from services.decision.domain.actions import ExposureCount, Exposures
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import DecideCommand, Decision, ModelUsed
from services.decision.exposures import ExposureCounts
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
from services.kernel.messaging.envelope import Envelope
from tests.unit.decision.memory_layer import MemoryLayer

NOW = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def decision(decision_id: str, profile: str, action: str) -> Decision:
    return Decision(
        decision_id,
        DecideCommand("acme", profile, "drinks", {}),
        NOW,
        1,
        ModelUsed(),
        True,
        (Scored(action, 1.0, 1.0, 1.0, 1.0),),
    )


def logged(layer: MemoryLayer) -> list[str]:
    with InMemoryDecisionUnitOfWork(layer.db) as uow:
        return [r.decision_id for r in handlers.training_rows(uow, "acme")]


def replica(layer: MemoryLayer, **options: Any) -> tuple[ExposureCounts, logging.DecisionLogWriter]:
    counts = ExposureCounts(cast(Any, layer))
    return counts, logging.DecisionLogWriter(cast(Any, layer), counts, **options)


def counted(*counts: ExposureCount) -> Envelope:
    """Another replica's write, as the broadcast delivers it."""
    message = mapping.exposures_counted("acme", counts)
    return Envelope("e", message.type, "decision", "acme", NOW, message.payload, "s")


async def test_decisions_count_for_caps_at_once_and_are_written_in_batches() -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    counts, writer = replica(layer, max_batch=2, linger=0)
    for n, profile in enumerate(["p-1", "p-1", "p-2"]):
        writer.submit(decision(f"d-{n}", profile, "water"))
    assert await counts.get("acme", "p-1", ["water", "soda"]) == {
        "water": Exposures(total=3, to_profile=2),
        "soda": Exposures(),
    }
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    await writer.flush()
    assert logged(layer) == ["d-0", "d-1", "d-2"]
    reads = layer.reads
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(3, 2)}
    assert layer.reads == reads  # held: the writes' counters replaced the pending ones
    stop.set()
    await task


async def test_counts_held_follow_other_replicas_writes_whatever_their_order() -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    counts, _ = replica(layer)
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures()}
    assert layer.reads == 1
    await counts.on_counted(counted(ExposureCount("water", "", 5, 1)))
    await counts.on_counted(counted(ExposureCount("water", "p-1", 2)))
    await counts.on_counted(counted(ExposureCount("water", "", 4)))  # late: changes nothing
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(5, 2, 1)}
    await counts.on_counted(counted(ExposureCount("water", "p-7", 1)))  # not read yet
    assert await counts.get("acme", "p-7", ["water"]) == {"water": Exposures(5, 1, 1)}
    assert layer.reads == 1


async def test_a_failed_batch_is_written_again(monkeypatch: Any) -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    monkeypatch.setattr(logging, "RETRY_SECONDS", (0.0,))
    real, failures = layer.run, [RuntimeError("database is locked")]

    async def flaky(handler: Any, *args: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(handler, *args)

    layer.run = flaky  # type: ignore[method-assign]
    counts, writer = replica(layer, linger=0)
    writer.submit(decision("d-1", "p-1", "water"))
    stop = asyncio.Event()
    stop.set()  # writes what is queued, then returns
    await writer.run(stop)
    assert logged(layer) == ["d-1"]
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(1, 1)}


async def test_a_forgotten_persons_counts_leave_the_replica() -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    counts, _ = replica(layer)
    await counts.on_counted(
        counted(ExposureCount("water", "", 5), ExposureCount("water", "p-1", 2))
    )
    forgotten = identity_events_pb2.ProfileForgotten(profile_id="p-1").SerializeToString()
    await counts.on_forgotten(Envelope("e", "t", "identity", "acme", NOW, forgotten, "s"))
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(5, 0)}
    assert layer.reads == 1  # read again: the log holds none of theirs


async def test_a_batch_the_database_cannot_take_is_never_dropped_nor_uncounted(
    monkeypatch: Any,
) -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    monkeypatch.setattr(logging, "RETRY_SECONDS", (0.0,))
    real = layer.run
    away = OperationalError("INSERT", {}, Exception("database is locked"))
    failures = [away] * 5  # more than a whole retry schedule

    async def flaky(handler: Any, *args: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(handler, *args)

    layer.run = flaky  # type: ignore[method-assign]
    counts, writer = replica(layer, linger=0)
    writer.submit(decision("d-1", "p-1", "water"))
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    while failures:
        assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(1, 1)}
        await asyncio.sleep(0)
    await writer.flush()
    assert logged(layer) == ["d-1"]
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(1, 1)}
    stop.set()
    await task


async def test_a_decision_the_database_refuses_is_set_aside_and_still_counts(
    monkeypatch: Any,
) -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    monkeypatch.setattr(logging, "RETRY_SECONDS", (0.0,))
    real = layer.run

    async def refusing(handler: Any, batch: list[Decision]) -> Any:
        if any(d.decision_id == "d-bad" for d in batch):
            raise IntegrityError("INSERT", {}, Exception("value too long"))
        return await real(handler, batch)

    layer.run = refusing  # type: ignore[method-assign]
    counts, writer = replica(layer, linger=0)
    for n, name in enumerate(["d-0", "d-bad", "d-2"]):
        writer.submit(decision(name, f"p-{n}", "water"))
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    await writer.flush()
    assert logged(layer) == ["d-0", "d-2"]  # the batch was split around the refused one
    assert [d.decision_id for d in writer.refused] == ["d-bad"]
    assert await counts.get("acme", "p-1", ["water"]) == {"water": Exposures(3, 1)}
    stop.set()
    await task
    assert [d.decision_id for d in writer.refused] == ["d-bad"]  # offered again at the end
