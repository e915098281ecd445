"""ConsumerRunner's contract with its subscription, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import nats.errors
import pytest

from services.kernel import telemetry
from services.kernel.clock import SystemClock
from services.kernel.messaging.consumer import ConsumerRunner, ConsumerSpec, Delivery, Outcome
from services.kernel.messaging.envelope import Envelope
from services.kernel.store.memory import InMemoryDatabase, InMemoryUnitOfWork, MemoryState
from services.kernel.store.unit_of_work import UnitOfWorkFactory


class TimingOutSubscription:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [nats.errors.TimeoutError(), TimeoutError()],
    ids=["nats-timeout", "asyncio-timeout"],
)
async def test_an_idle_fetch_is_an_empty_pass_whichever_timeout_nats_raises(
    error: BaseException,
) -> None:
    spec = ConsumerSpec("c", "IDENTITY", "layercake.*.identity.>", lambda _u, _e: None)
    runner = ConsumerRunner(
        spec,
        js=None,  # type: ignore[arg-type]
        db=None,  # type: ignore[arg-type]
        uow=UnitOfWorkFactory(lambda: None, SystemClock()),  # type: ignore[arg-type, return-value]
    )
    runner._sub = TimingOutSubscription(error)  # type: ignore[assignment]
    assert await runner.run_once(timeout=0.01) == []


def test_each_message_of_a_batch_is_applied_in_its_own_trace_context() -> None:
    telemetry.setup_tracing("test")
    first, second = (f"00-{n * 32}-00f067aa0ba902b7-01" for n in ("a", "b"))
    seen: dict[str, str] = {}

    def handler(_uow: Any, envelope: Envelope) -> None:
        seen[envelope.event_id] = telemetry.current_traceparent()

    spec = ConsumerSpec("c", "IDENTITY", "layercake.*.identity.>", handler)
    db = InMemoryDatabase(MemoryState(), SystemClock())
    runner = ConsumerRunner(spec, js=None, db=None, uow=lambda: InMemoryUnitOfWork(db))  # type: ignore[arg-type]
    at = datetime(2026, 3, 1, tzinfo=UTC)
    parents = {"e1": first, "e2": second, "e3": first, "e4": ""}
    envelopes = [
        Envelope(i, "t", "s", "acme", at, b"", "layercake.acme.identity.x", traceparent=p)
        for i, p in parents.items()
    ]
    results = runner.apply([Delivery(e) for e in envelopes])
    assert {r.outcome for r in results} == {Outcome.APPLIED}
    assert {i: seen[i] for i in ("e1", "e2", "e3")} == {"e1": first, "e2": second, "e3": first}
    batch_trace = seen["e4"].split("-")[1]  # no caller: the batch's own span
    assert batch_trace not in {"a" * 32, "b" * 32, "0" * 32}
