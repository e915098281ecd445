"""The decision log's writer: answered decisions count at once, are written in batches,
and a failed batch is written again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

from services.decision import handlers, logging
from services.decision.domain.actions import Exposures
from services.decision.domain.arbitration import Scored
from services.decision.domain.decisions import DecideCommand, Decision, ModelUsed
from services.decision.store.memory import InMemoryDecisionUnitOfWork, in_memory
from services.kernel.clock import FixedClock
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


async def test_decisions_count_for_caps_at_once_and_are_written_in_batches() -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    writer = logging.DecisionLogWriter(cast(Any, layer), max_batch=2, linger=0)
    for n, profile in enumerate(["p-1", "p-1", "p-2"]):
        writer.submit(decision(f"d-{n}", profile, "water"))
    assert writer.pending("acme", "p-1", {}, ["water", "soda"]) == {
        "water": Exposures(total=3, to_profile=2)
    }
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    await writer.flush()
    assert logged(layer) == ["d-0", "d-1", "d-2"]
    assert writer.pending("acme", "p-1", {}, ["water"]) == {}
    stop.set()
    await task


async def test_a_failed_batch_is_written_again(monkeypatch: Any) -> None:
    layer = MemoryLayer(in_memory(FixedClock(NOW)))
    monkeypatch.setattr(logging, "RETRY_SECONDS", (0.0,))
    real, failures = layer.run, [RuntimeError("database is locked")]

    async def flaky(handler: Any, *args: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(handler, *args)

    layer.run = flaky  # type: ignore[method-assign]
    writer = logging.DecisionLogWriter(cast(Any, layer), linger=0)
    writer.submit(decision("d-1", "p-1", "water"))
    stop = asyncio.Event()
    stop.set()  # writes what is queued, then returns
    await writer.run(stop)
    assert logged(layer) == ["d-1"]
